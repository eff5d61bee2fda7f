package kube

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/piyasa/kubectl-piyasa/shared/exit"
)

// syncBuffer is a bytes.Buffer safe for the transport's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// server serves on addr ("" picks a port) until stopped; stop cuts every
// connection, as a killed process does.
func server(t *testing.T, addr string, h http.Handler) (*httptest.Server, string) {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	s := &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
	s.Start()
	t.Cleanup(s.Close)
	return s, l.Addr().String()
}

func get(t *testing.T, c *http.Client, url string) error {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return err
}

// TestOutageReportedOnce: requests refused while the server is down give one
// "lost" line however many fail, an answer after it one "regained" line.
func TestOutageReportedOnce(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	s, addr := server(t, "", ok)
	var out syncBuffer
	conn := NewConnection("http://"+addr, &out)
	client, err := rest.HTTPClientFor(conn.Config(&rest.Config{Host: "http://" + addr}))
	if err != nil {
		t.Fatal(err)
	}
	if err := get(t, client, "http://"+addr+"/version"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	for range 3 {
		if err := get(t, client, "http://"+addr+"/version"); err == nil {
			t.Fatal("a request to a stopped server succeeded")
		}
	}
	if le := conn.Lost(); le == nil {
		t.Fatal("no outage after refused requests")
	} else if !strings.Contains(le.Error(), "cannot reach the cluster at http://"+addr) || !strings.Contains(le.Error(), "connection refused") {
		t.Errorf("ConnectionLostError: %v", le)
	}
	server(t, addr, ok)
	if err := get(t, client, "http://"+addr+"/version"); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "connection to the API server at http://"+addr+" lost (") ||
		!strings.HasSuffix(lines[0], "; retrying") || !strings.HasPrefix(lines[1], "connection to the API server regained after ") {
		t.Fatalf("report:\n%s", out.String())
	}
	if conn.Lost() != nil || conn.Outages() != 1 {
		t.Errorf("after the answer: lost %v, outages %d", conn.Lost(), conn.Outages())
	}
}

// TestCutStreamIsAnOutage: a streaming body cut off by the server's death
// starts an outage; a body the client closes, or a cancelled request, does not.
func TestCutStreamIsAnOutage(t *testing.T) {
	started := make(chan struct{}, 4)
	stream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		started <- struct{}{}
		<-r.Context().Done()
	})
	s, addr := server(t, "", stream)
	var out syncBuffer
	conn := NewConnection("http://"+addr, &out)
	client, err := rest.HTTPClientFor(conn.Config(&rest.Config{Host: "http://" + addr}))
	if err != nil {
		t.Fatal(err)
	}
	// Closed by the client: no outage.
	resp, err := client.Get("http://" + addr + "/watch")
	if err != nil {
		t.Fatal(err)
	}
	<-started
	resp.Body.Close()
	// Cancelled by the client: no outage.
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/watch", nil)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	<-started
	cancel()
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if conn.Outages() != 0 {
		t.Fatalf("closing or cancelling a stream counted as an outage:\n%s", out.String())
	}
	// Cut by the server: an outage.
	resp, err = client.Get("http://" + addr + "/watch")
	if err != nil {
		t.Fatal(err)
	}
	<-started
	s.CloseClientConnections()
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err == nil || conn.Lost() == nil {
		t.Fatalf("a stream cut by the server: read error %v, lost %v", err, conn.Lost())
	}
}

// TestConnectionLostIsExit3: a timeout during an outage is an exit-3 error
// with one line; a timeout without one stays a *TimeoutError.
func TestConnectionLostIsExit3(t *testing.T) {
	te := &TimeoutError{Timeout: time.Minute}
	rc := &ReconnectingClient{Conn: NewConnection("https://127.0.0.1:6443", nil)}
	if err := lostOr(rc, time.Minute, te); err != te {
		t.Fatalf("no outage: %v", err)
	}
	rc.Conn.markLost(&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")})
	err := lostOr(rc, time.Minute, te)
	var ee *exit.Error
	if !IsConnectionLost(err) || !errors.As(err, &ee) || ee.Code != exit.ExitCluster {
		t.Fatalf("outage: %T %v", err, err)
	}
	if msg := ee.Msg; strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "cannot reach the cluster at https://127.0.0.1:6443: the connection was lost") ||
		!strings.HasSuffix(msg, "did not come back within the 1m0s timeout") {
		t.Errorf("message: %q", msg)
	}
	if err := lostOr(rc, time.Minute, context.Canceled); err != context.Canceled {
		t.Errorf("Ctrl-C during an outage is still an interruption: %v", err)
	}
}

func TestIsConnectionError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{io.ErrUnexpectedEOF, true},
		{errors.New(`Get "https://x/api": dial tcp 127.0.0.1:1: connect: connection refused`), true},
		{errors.New("websocket: close 1006 (abnormal closure): unexpected EOF"), true},
		{errors.New("http2: client connection lost"), true},
		{context.Canceled, false},
		{errors.New(`pods "x" not found`), false},
	} {
		if got := IsConnectionError(tc.err); got != tc.want {
			t.Errorf("IsConnectionError(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
