package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/streaming/pkg/httpstream"
)

// PodDialer opens a port-forward connection to a pod.
type PodDialer func(pod string) (httpstream.Connection, error)

// NewPodDialer dials pods/portforward in namespace ns as kubectl does: SPDY
// over WebSocket, falling back to SPDY when the server cannot upgrade.
func NewPodDialer(cs kubernetes.Interface, cfg *rest.Config, ns string) PodDialer {
	return func(pod string) (httpstream.Connection, error) {
		u := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("portforward").URL()
		transport, upgrader, err := spdy.RoundTripperFor(cfg)
		if err != nil {
			return nil, err
		}
		sd := spdy.NewDialerForStreaming(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
		wd, err := portforward.NewSPDYOverWebsocketDialerForStreaming(u, cfg)
		if err != nil {
			return nil, err
		}
		d := portforward.NewFallbackDialerForStreaming(wd, sd, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
		conn, proto, err := d.Dial(portforward.PortForwardProtocolV1Name)
		if err != nil {
			return nil, err
		}
		if proto != portforward.PortForwardProtocolV1Name {
			_ = conn.Close()
			return nil, fmt.Errorf("the server speaks port-forward protocol %q, not %q", proto, portforward.PortForwardProtocolV1Name)
		}
		return conn, nil
	}
}

// PortForwarder forwards one local port to the pods behind one Service, as
// `kubectl port-forward service/NAME` does, but following the pods: its
// listeners stay open for the whole session and each local connection goes
// to the pod chosen at that moment (Follow); a replaced pod's connection
// finishes its open streams first. Lines about the pods it forwards to go to
// the info writer, prefixed with its name.
type PortForwarder struct {
	name      string
	service   string
	selector  labels.Selector
	svcPort   corev1.ServicePort
	localPort int
	dial      PodDialer
	info      io.Writer

	listeners []net.Listener

	mu        sync.Mutex
	pod       *corev1.Pod
	waiting   bool
	conn      *podConn
	requestID int
	closed    bool
}

// podConn is one port-forward connection to a pod, closed once it is
// retired (its pod was replaced) and its last stream has ended.
type podConn struct {
	pod     string
	conn    httpstream.Connection
	active  int
	retired bool
}

// NewPortForwarder returns the forwarder of svc's port numbered port (else
// the one named portName, else its first) to the pods of svc's selector,
// dialled with dial. name prefixes its lines on info. It listens once Listen
// is called and forwards to no pod until Follow chooses one.
func NewPortForwarder(name string, svc *corev1.Service, port int32, portName string, dial PodDialer, info io.Writer) (*PortForwarder, error) {
	if len(svc.Spec.Selector) == 0 {
		return nil, fmt.Errorf("service %s has no selector: no pods to forward to", svc.Name)
	}
	var sp *corev1.ServicePort
	for i, p := range svc.Spec.Ports {
		if p.Port == port || (sp == nil && p.Name == portName) {
			sp = &svc.Spec.Ports[i]
			if p.Port == port {
				break
			}
		}
	}
	if sp == nil {
		if len(svc.Spec.Ports) == 0 {
			return nil, fmt.Errorf("service %s has no port", svc.Name)
		}
		sp = &svc.Spec.Ports[0]
	}
	return &PortForwarder{name: name, service: svc.Name, selector: labels.SelectorFromSet(svc.Spec.Selector), svcPort: *sp, dial: dial, info: info}, nil
}

// Name is the forwarder's name (the prefix of its lines).
func (f *PortForwarder) Name() string { return f.name }

// Selector selects the Service's pods: Follow wants them.
func (f *PortForwarder) Selector() labels.Selector { return f.selector }

// LocalPort is the local port listened on (the free one picked for port 0),
// once Listen succeeded.
func (f *PortForwarder) LocalPort() int { return f.localPort }

// Listen opens the local listeners: localhost is 127.0.0.1 and, when the
// machine has it, [::1] on the same port; port 0 picks a free one.
func (f *PortForwarder) Listen(addrs []string, port int) error {
	for _, a := range addrs {
		ips := []string{a}
		if a == "localhost" {
			ips = []string{"127.0.0.1", "::1"}
		}
		for i, ip := range ips {
			p := port
			if f.localPort != 0 {
				p = f.localPort
			}
			l, err := net.Listen("tcp", net.JoinHostPort(ip, strconv.Itoa(p)))
			if err != nil {
				if a == "localhost" && i > 0 {
					continue // no IPv6 loopback here
				}
				if u := errors.Unwrap(err); u != nil {
					err = u
				}
				return fmt.Errorf("listen on %s: %v", net.JoinHostPort(ip, strconv.Itoa(p)), err)
			}
			f.listeners = append(f.listeners, l)
			if f.localPort == 0 {
				f.localPort = l.Addr().(*net.TCPAddr).Port
			}
		}
	}
	return nil
}

// Serve accepts local connections, each in its own goroutine, until Close
// or ctx ends them.
func (f *PortForwarder) Serve(ctx context.Context) {
	for _, l := range f.listeners {
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					return
				}
				go f.handle(ctx, c)
			}
		}()
	}
}

func (f *PortForwarder) infof(format string, args ...any) {
	fmt.Fprintf(f.info, "%s: %s\n", f.name, fmt.Sprintf(format, args...))
}

// Follow re-chooses the pod from the Service's pods (those of Selector) and
// says when it changes.
func (f *PortForwarder) Follow(pods []*corev1.Pod) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	cur := ""
	if f.pod != nil {
		cur = f.pod.Name
	}
	next := choosePod(cur, pods)
	switch {
	case next == nil && !f.waiting:
		f.waiting = true
		if cur != "" {
			f.infof("pod %s is gone and service %s has no running pod: waiting for one", cur, f.service)
		} else {
			f.infof("service %s has no running pod yet: waiting for one", f.service)
		}
	case next != nil && next.Name != cur:
		if cur != "" {
			f.infof("pod %s replaced by %s", cur, next.Name)
		} else {
			f.infof("forwarding to pod %s (service %s)", next.Name, f.service)
		}
		f.waiting = false
	case next != nil:
		f.waiting = false
	}
	if next == nil || next.Name != cur {
		f.retire()
	}
	f.pod = next
}

// retire lets the current connection finish its streams, then closes it (f.mu held).
func (f *PortForwarder) retire() {
	if f.conn == nil {
		return
	}
	f.conn.retired = true
	if f.conn.active == 0 {
		_ = f.conn.conn.Close()
	}
	f.conn = nil
}

// choosePod keeps the current pod while it runs and is ready (or no other
// pod is ready), else takes the newest ready pod, else the newest running
// one; nil when no pod runs.
func choosePod(current string, pods []*corev1.Pod) *corev1.Pod {
	var running []*corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			running = append(running, p)
		}
	}
	sort.SliceStable(running, func(i, j int) bool {
		a, b := running[i], running[j]
		if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
			return b.CreationTimestamp.Before(&a.CreationTimestamp)
		}
		return a.Name < b.Name
	})
	var cur, ready *corev1.Pod
	for _, p := range running {
		if p.Name == current {
			cur = p
		}
		if ready == nil && podReady(p) {
			ready = p
		}
	}
	switch {
	case cur != nil && (podReady(cur) || ready == nil):
		return cur
	case ready != nil:
		return ready
	case len(running) > 0:
		return running[0]
	}
	return nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// targetPort resolves the Service port's target in a pod (a named
// targetPort is the container port of that name).
func targetPort(sp corev1.ServicePort, pod *corev1.Pod) (int32, error) {
	switch {
	case sp.TargetPort.Type == intstr.Int && sp.TargetPort.IntVal != 0:
		return sp.TargetPort.IntVal, nil
	case sp.TargetPort.Type == intstr.String && sp.TargetPort.StrVal != "":
		for _, c := range pod.Spec.Containers {
			for _, p := range c.Ports {
				if p.Name == sp.TargetPort.StrVal {
					return p.ContainerPort, nil
				}
			}
		}
		return 0, fmt.Errorf("pod %s has no container port named %q (the service's targetPort)", pod.Name, sp.TargetPort.StrVal)
	}
	return sp.Port, nil
}

// acquire returns the connection to the current pod (dialled on first use,
// outside the lock, so that following pods and Ctrl-C never wait for a dial)
// and the pod's port, counting the stream that is about to use it.
func (f *PortForwarder) acquire() (*podConn, int32, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for {
		if f.closed {
			return nil, 0, errors.New("stopped")
		}
		if f.pod == nil {
			return nil, 0, fmt.Errorf("no running pod behind service %s: connection refused", f.service)
		}
		pod := f.pod
		port, err := targetPort(f.svcPort, pod)
		if err != nil {
			return nil, 0, err
		}
		if f.conn != nil {
			f.conn.active++
			return f.conn, port, nil
		}
		f.mu.Unlock()
		conn, err := f.dial(pod.Name)
		f.mu.Lock()
		if err != nil {
			return nil, 0, fmt.Errorf("cannot port-forward to pod %s: %v", pod.Name, err)
		}
		if f.closed || f.pod != pod || f.conn != nil {
			// Things changed while dialling: use what is there now.
			_ = conn.Close()
			continue
		}
		pc := &podConn{pod: pod.Name, conn: conn, active: 1}
		f.conn = pc
		go func() {
			<-conn.CloseChan()
			f.mu.Lock()
			if f.conn == pc {
				f.conn = nil // lost: the next connection dials again
			}
			f.mu.Unlock()
		}()
		return pc, port, nil
	}
}

func (f *PortForwarder) release(pc *podConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pc.active--
	if pc.retired && pc.active == 0 {
		_ = pc.conn.Close()
	}
}

// drop forgets a broken connection so that the next one dials again.
func (f *PortForwarder) drop(pc *podConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conn == pc {
		f.conn = nil
		pc.retired = true
	}
}

func (f *PortForwarder) nextRequestID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requestID++
	return strconv.Itoa(f.requestID)
}

// handle forwards one local connection over a pair of streams (error and
// data) of the current pod's connection, as the port-forward protocol
// wants. A connection that cannot open its streams is dialled again once.
func (f *PortForwarder) handle(ctx context.Context, local net.Conn) {
	defer local.Close()
	for attempt := 0; ; attempt++ {
		pc, port, err := f.acquire()
		if err != nil {
			f.infof("%v", err)
			return
		}
		retry, err := f.stream(ctx, pc, port, local)
		f.release(pc)
		if err == nil {
			return
		}
		if retry && attempt == 0 && ctx.Err() == nil {
			f.drop(pc)
			continue
		}
		if ctx.Err() == nil {
			f.infof("pod %s: %v", pc.pod, err)
		}
		return
	}
}

// stream copies between local and the pod; retry is true when nothing was
// sent yet (the streams could not be opened).
func (f *PortForwarder) stream(ctx context.Context, pc *podConn, port int32, local net.Conn) (retry bool, err error) {
	h := http.Header{}
	h.Set(corev1.StreamType, corev1.StreamTypeError)
	h.Set(corev1.PortHeader, strconv.Itoa(int(port)))
	h.Set(corev1.PortForwardRequestIDHeader, f.nextRequestID())
	errStream, err := pc.conn.CreateStream(h)
	if err != nil {
		return true, err
	}
	defer pc.conn.RemoveStreams(errStream)
	_ = errStream.Close() // nothing is written to the error stream
	errc := make(chan error, 1)
	go func() {
		msg, err := io.ReadAll(errStream)
		switch {
		case err != nil:
			errc <- err
		case len(msg) > 0:
			errc <- errors.New(strings.TrimSpace(string(msg)))
		default:
			errc <- nil
		}
	}()
	h.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := pc.conn.CreateStream(h)
	if err != nil {
		return true, err
	}
	defer pc.conn.RemoveStreams(data)
	remoteDone := make(chan struct{})
	localDone := make(chan struct{})
	go func() {
		_, _ = io.Copy(local, data)
		close(remoteDone)
	}()
	go func() {
		defer data.Close()
		if _, err := io.Copy(data, local); err != nil {
			close(localDone)
		}
	}()
	select {
	case <-remoteDone:
	case <-localDone:
	case <-ctx.Done():
	}
	// Reset discards unsent data so that the error stream can end.
	_ = data.Reset()
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	return false, err
}

// Close stops the listeners and the connection, which ends every copy.
func (f *PortForwarder) Close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return
	}
	f.closed = true
	for _, l := range f.listeners {
		_ = l.Close()
	}
	if f.conn != nil {
		_ = f.conn.conn.Close()
		f.conn = nil
	}
}
