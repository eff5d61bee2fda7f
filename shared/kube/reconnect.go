package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"

	"github.com/piyasa/kubectl-piyasa/shared/exit"
)

// Connection observes the requests of the clients made from its Config and
// tells when the API server stops answering (a refused or reset connection,
// a watch or log stream cut off) and when it answers again: one line each per
// outage, not one per retry. The waits that ride out an outage (informers
// re-list, log streams resume) use it to say so, and to end with a
// *ConnectionLostError (exit 3) instead of a timeout when their time ran out
// while the API server could not be reached.
type Connection struct {
	server string
	out    io.Writer
	now    func() time.Time

	mu      sync.Mutex
	lost    bool
	since   time.Time
	cause   error
	outages int
}

// NewConnection returns a Connection to server that reports on out (nil: silent).
func NewConnection(server string, out io.Writer) *Connection {
	return &Connection{server: server, out: out, now: time.Now}
}

// Config returns a copy of cfg whose requests c observes.
func (c *Connection) Config(cfg *rest.Config) *rest.Config {
	cc := rest.CopyConfig(cfg)
	cc.WrapTransport = transport.Wrappers(cc.WrapTransport, func(rt http.RoundTripper) http.RoundTripper {
		return &observedTransport{c: c, rt: rt}
	})
	return cc
}

// Outages returns how many times the connection was lost.
func (c *Connection) Outages() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.outages
}

// Lost returns the outage going on (nil while the API server answers).
func (c *Connection) Lost() *ConnectionLostError {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.lost {
		return nil
	}
	return &ConnectionLostError{Server: c.server, For: c.now().Sub(c.since), Cause: c.cause}
}

// Failed records a failed request made outside c's clients (an exec or
// log stream of another client): a connection error starts an outage.
func (c *Connection) Failed(ctx context.Context, err error) {
	if c != nil && ctx.Err() == nil && IsConnectionError(err) {
		c.markLost(err)
	}
}

func (c *Connection) markLost(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lost {
		c.cause = err // the latest says most ("connection refused" after "unexpected EOF")
		return
	}
	c.lost, c.since, c.cause = true, c.now(), err
	c.outages++
	if c.out != nil {
		fmt.Fprintf(c.out, "connection to the API server%s lost (%s); retrying\n", at(c.server), shortCause(err))
	}
}

func (c *Connection) markUp() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.lost {
		return
	}
	c.lost = false
	if c.out != nil {
		fmt.Fprintf(c.out, "connection to the API server regained after %s\n", c.now().Sub(c.since).Round(100*time.Millisecond))
	}
}

// observedTransport reports every request's outcome to its Connection: any
// HTTP response means the server answers; a connection error, or a body cut
// off by one, means it does not.
type observedTransport struct {
	c  *Connection
	rt http.RoundTripper
}

func (t *observedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.rt.RoundTrip(req)
	if err != nil {
		t.c.Failed(req.Context(), err)
		return resp, err
	}
	t.c.markUp()
	if resp.StatusCode != http.StatusSwitchingProtocols && resp.Body != nil {
		// (an upgraded connection's body is also its writer: left as it is)
		resp.Body = &observedBody{ReadCloser: resp.Body, c: t.c, ctx: req.Context()}
	}
	return resp, nil
}

type observedBody struct {
	io.ReadCloser
	c      *Connection
	ctx    context.Context
	closed atomic.Bool
}

func (b *observedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && !b.closed.Load() {
		b.c.Failed(b.ctx, err)
	}
	return n, err
}

func (b *observedBody) Close() error {
	b.closed.Store(true)
	return b.ReadCloser.Close()
}

// IsConnectionError reports an error of the connection to the API server
// itself (refused, reset, cut off, timed out), as opposed to an answer.
func IsConnectionError(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) {
		return false
	}
	var ne net.Error
	var op *net.OpError
	switch {
	case errors.As(err, &op), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, io.ErrUnexpectedEOF), errors.As(err, &ne) && ne.Timeout():
		return true
	case utilnet.IsProbableEOF(err), utilnet.IsHTTP2ConnectionLost(err):
		return true
	}
	msg := err.Error()
	for _, s := range []string{"connection refused", "connection reset", "broken pipe", "unexpected EOF",
		"abnormal closure", "client connection lost", "server sent GOAWAY"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// ConnectionLostError is a wait whose time ran out while the API server
// could not be reached. It unwraps to the exit-3 error the commands print.
type ConnectionLostError struct {
	Server string
	// For is how long the API server had not answered.
	For time.Duration
	// Timeout is the wait's bound (0: unknown).
	Timeout time.Duration
	// Cause is the last connection error.
	Cause error
}

func (e *ConnectionLostError) Error() string {
	msg := fmt.Sprintf("cannot reach the cluster%s: the connection was lost %s ago (%s)", at(e.Server), e.For.Round(time.Second), shortCause(e.Cause))
	if e.Timeout > 0 {
		msg += fmt.Sprintf(" and did not come back within the %s timeout", e.Timeout)
	}
	return msg
}

// Unwrap returns the *exit.Error (exit 3) of e.
func (e *ConnectionLostError) Unwrap() error {
	return &exit.Error{Code: exit.ExitCluster, Msg: e.Error()}
}

// IsConnectionLost reports a *ConnectionLostError in err's chain.
func IsConnectionLost(err error) bool { return errors.As(err, new(*ConnectionLostError)) }

// ReconnectingClient is a clientset whose requests a Connection observes
// (see WatchClientset).
type ReconnectingClient struct {
	kubernetes.Interface
	Conn *Connection
}

// WatchClientset returns a clientset for long watches (WatchConfig) whose
// outages are reported on out; the waits of this package find its Connection
// (ConnectionOf) to report them and to end with exit 3 when time runs out
// during one.
func WatchClientset(cfg *rest.Config, out io.Writer) (kubernetes.Interface, error) {
	conn := NewConnection(cfg.Host, out)
	cs, err := kubernetes.NewForConfig(conn.Config(WatchConfig(cfg)))
	if err != nil {
		return nil, err
	}
	return &ReconnectingClient{Interface: cs, Conn: conn}, nil
}

// ConnectionOf returns the Connection observing cs (nil for other clientsets).
func ConnectionOf(cs kubernetes.Interface) *Connection {
	if rc, ok := cs.(*ReconnectingClient); ok {
		return rc.Conn
	}
	return nil
}

// lostOr returns the outage going on, with the wait's timeout, instead of
// err when err is a *TimeoutError and cs's Connection is lost.
func lostOr(cs kubernetes.Interface, timeout time.Duration, err error) error {
	if !errors.As(err, new(*TimeoutError)) {
		return err
	}
	if le := ConnectionOf(cs).Lost(); le != nil {
		le.Timeout = timeout
		return le
	}
	return err
}

func at(server string) string {
	if server == "" {
		return ""
	}
	return " at " + server
}

// Cause is the innermost text of a connection error ("connect: connection
// refused"), for messages.
func Cause(err error) string { return shortCause(err) }

func shortCause(err error) string {
	if err == nil {
		return "no answer"
	}
	for {
		u := errors.Unwrap(err)
		if u == nil {
			break
		}
		if _, ok := u.(syscall.Errno); ok {
			break
		}
		err = u
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return msg
}
