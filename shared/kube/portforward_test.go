package kube

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// testNow is the creation time of the test pods' minute 0.
var testNow = time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)

func testPod(name string, created int, ready, deleting bool) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, CreationTimestamp: metav1.NewTime(testNow.Add(time.Duration(created) * time.Minute))},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8000}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	if deleting {
		now := metav1.NewTime(testNow)
		p.DeletionTimestamp = &now
	}
	return p
}

func TestChoosePod(t *testing.T) {
	a, b, c := testPod("a", 1, true, false), testPod("b", 2, true, false), testPod("c", 3, false, false)
	gone := testPod("a", 1, true, true)
	failed := testPod("f", 9, false, false)
	failed.Status.Phase = corev1.PodFailed
	for _, tc := range []struct {
		name, current string
		pods          []*corev1.Pod
		want          string
	}{
		{"first: the newest ready", "", []*corev1.Pod{a, b, c}, "b"},
		{"current kept while ready", "a", []*corev1.Pod{a, b, c}, "a"},
		{"current deleting: a ready one", "a", []*corev1.Pod{gone, b, c}, "b"},
		{"current not ready, another ready", "c", []*corev1.Pod{a, c}, "a"},
		{"current not ready, none ready: kept", "c", []*corev1.Pod{c}, "c"},
		{"none ready: the newest running", "", []*corev1.Pod{c, failed}, "c"},
		{"none running", "a", []*corev1.Pod{gone, failed}, ""},
	} {
		got := choosePod(tc.current, tc.pods)
		name := ""
		if got != nil {
			name = got.Name
		}
		if name != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, name, tc.want)
		}
	}
}

func TestTargetPort(t *testing.T) {
	pod := testPod("a", 0, true, false)
	for _, tc := range []struct {
		sp   corev1.ServicePort
		want int32
		err  bool
	}{
		{corev1.ServicePort{Port: 8000, TargetPort: intstr.FromString("http")}, 8000, false},
		{corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(8080)}, 8080, false},
		{corev1.ServicePort{Port: 8000}, 8000, false},
		{corev1.ServicePort{Port: 8000, TargetPort: intstr.FromString("metrics")}, 0, true},
	} {
		got, err := targetPort(tc.sp, pod)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("%+v: got %d, %v", tc.sp, got, err)
		}
	}
}

// fakePodConn is a port-forward connection to one pod: each data stream is
// served by a fake app that answers "<pod>: <line>" to a line, or waits
// for release when the line is "hold".
type fakePodConn struct {
	pod     string
	release chan struct{}
	mu      sync.Mutex
	closed  bool
	done    chan bool
	ports   []string
}

func (c *fakePodConn) CreateStream(h http.Header) (httpstream.Stream, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, fmt.Errorf("connection closed")
	}
	if h.Get(corev1.StreamType) == corev1.StreamTypeError {
		return &fakeStream{Reader: strings.NewReader(""), h: h}, nil
	}
	c.ports = append(c.ports, h.Get(corev1.PortHeader))
	client, server := net.Pipe()
	go func() {
		defer server.Close()
		line, err := bufio.NewReader(server).ReadString('\n')
		if err != nil {
			return
		}
		if strings.TrimSpace(line) == "hold" {
			<-c.release
		}
		fmt.Fprintf(server, "%s: %s", c.pod, line)
	}()
	return &fakeStream{conn: client, h: h}, nil
}

func (c *fakePodConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.closed = true
		close(c.done)
	}
	return nil
}

func (c *fakePodConn) portsAsked() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ports...)
}

func (c *fakePodConn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}
func (c *fakePodConn) CloseChan() <-chan bool                     { return c.done }
func (c *fakePodConn) SetIdleTimeout(time.Duration)               {}
func (c *fakePodConn) RemoveStreams(streams ...httpstream.Stream) {}

type fakeStream struct {
	io.Reader
	conn net.Conn
	h    http.Header
}

func (s *fakeStream) Read(p []byte) (int, error) {
	if s.conn != nil {
		return s.conn.Read(p)
	}
	return s.Reader.Read(p)
}

func (s *fakeStream) Write(p []byte) (int, error) {
	if s.conn != nil {
		return s.conn.Write(p)
	}
	return len(p), nil
}

func (s *fakeStream) Close() error {
	if s.conn != nil {
		if hc, ok := s.conn.(interface{ CloseWrite() error }); ok {
			return hc.CloseWrite()
		}
	}
	return nil
}

func (s *fakeStream) Reset() error {
	if s.conn != nil {
		return s.conn.Close()
	}
	return nil
}
func (s *fakeStream) Headers() http.Header { return s.h }
func (s *fakeStream) Identifier() uint32   { return 0 }

// TestPortForwarderFollowsPods: connections go to the chosen pod; a replaced
// pod's connection is closed once its open streams end, and the change is
// said in one line.
func TestPortForwarderFollowsPods(t *testing.T) {
	api, _ := app.LookupComponent(app.API)
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "dev-api-service"}, Spec: corev1.ServiceSpec{Selector: api.Labels,
		Ports: []corev1.ServicePort{{Name: "http", Port: 8000, TargetPort: intstr.FromString("http")}}}}
	var info bytes.Buffer
	var infoMu sync.Mutex
	conns := map[string]*fakePodConn{}
	var connsMu sync.Mutex
	release := make(chan struct{})
	dial := func(pod string) (httpstream.Connection, error) {
		connsMu.Lock()
		defer connsMu.Unlock()
		c := &fakePodConn{pod: pod, release: release, done: make(chan bool)}
		conns[pod] = c
		return c, nil
	}
	fw, err := NewPortForwarder(api.Name, svc, api.Port, api.PortName, dial, writerFunc(func(p []byte) (int, error) { infoMu.Lock(); defer infoMu.Unlock(); return info.Write(p) }))
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Listen([]string{"127.0.0.1"}, 0); err != nil {
		t.Fatal(err)
	}
	defer fw.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fw.Serve(ctx)
	ask := func(line string) string {
		t.Helper()
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", fw.LocalPort()))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprintf(c, "%s\n", line)
		b, _ := io.ReadAll(c)
		return string(b)
	}

	// No pod yet: the connection is closed at once, and a line says why.
	fw.Follow(nil)
	if got := ask("hi"); got != "" {
		t.Errorf("no pod: got %q", got)
	}
	fw.Follow([]*corev1.Pod{testPod("dev-api-a", 1, true, false)})
	if got := ask("hi"); got != "dev-api-a: hi\n" {
		t.Errorf("got %q", got)
	}
	// A request held open on pod a while a rollout replaces it by b.
	held := make(chan string)
	go func() { held <- ask("hold") }()
	for {
		connsMu.Lock()
		a := conns["dev-api-a"]
		connsMu.Unlock()
		if len(a.portsAsked()) == 2 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	fw.Follow([]*corev1.Pod{testPod("dev-api-a", 1, true, true), testPod("dev-api-b", 2, true, false)})
	if got := ask("hi"); got != "dev-api-b: hi\n" {
		t.Errorf("after the replacement: got %q", got)
	}
	if conns["dev-api-a"].isClosed() {
		t.Errorf("pod a's connection closed while a request was open on it")
	}
	close(release)
	if got := <-held; got != "dev-api-a: hold\n" {
		t.Errorf("the held request: got %q", got)
	}
	for !conns["dev-api-a"].isClosed() {
		time.Sleep(time.Millisecond) // closed by the end of its last stream
	}
	if p := conns["dev-api-b"].portsAsked(); len(p) != 1 || p[0] != "8000" {
		t.Errorf("ports asked of pod b: %v (want the named targetPort http = 8000)", p)
	}
	infoMu.Lock()
	got := info.String()
	infoMu.Unlock()
	for _, want := range []string{
		"api: service dev-api-service has no running pod yet: waiting for one",
		"api: forwarding to pod dev-api-a (service dev-api-service)",
		"api: pod dev-api-a replaced by dev-api-b",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("lines lack %q:\n%s", want, got)
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
