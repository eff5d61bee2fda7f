package deploy

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

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/streaming/pkg/httpstream"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// AccessOptions of `deploy access`: the guide's Procedure 1 step 7.
type AccessOptions struct {
	*cli.Global
	Addresses    []string
	APIPort      int
	FrontendPort int
	PortForward  bool
}

// NewAccessOptions returns the defaults: the guide's local ports.
func NewAccessOptions(g *cli.Global) *AccessOptions {
	api, _ := app.LookupComponent(app.API)
	fe, _ := app.LookupComponent(app.Frontend)
	return &AccessOptions{Global: g, Addresses: []string{"localhost"}, APIPort: int(api.Port), FrontendPort: int(fe.Port)}
}

// NewCmdAccess port-forwards the api and the frontend together (prod: prints the Ingress hosts).
func NewCmdAccess(g *cli.Global) *cobra.Command {
	o := NewAccessOptions(g)
	cmd := &cobra.Command{
		Use:   "access",
		Short: "Reach the app: port-forward the api (8000) and the frontend (5173) until Ctrl-C (prod: print the Ingress hosts)",
		Long: `Port-forward the api and the frontend together (the guide's Procedure 1 step 7) to the
pods behind their Services, and print the URLs (http://localhost:8000/docs,
http://localhost:5173). The forwards follow the pods: when the forwarded pod is deleted or
stops being ready (a rollout, a restart), new connections go to a ready pod of the Service
and a line says so ("api: pod X replaced by Y"); connections already open to the old pod
finish there. Ctrl-C stops both (exit 0).
In prod the app is served through its Ingress: access prints the Ingress hosts, and
port-forwards only with --port-forward.
Exit codes: 0 stopped with Ctrl-C (or prod hosts printed); 1 a Service, its pods' port or the
Ingress is missing, or a local port cannot be listened on; 2 bad flags; 3 cluster
unreachable or forbidden.`,
		Example: `  kubectl piyasa deploy access --env dev
  kubectl piyasa deploy access --api-port 0 --frontend-port 0     # free local ports
  kubectl piyasa deploy access --address 0.0.0.0 -n my-test
  kubectl piyasa deploy access --env prod                         # the Ingress hosts
  kubectl piyasa deploy access --env prod --port-forward`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	f := cmd.Flags()
	f.StringSliceVar(&o.Addresses, "address", o.Addresses, "Local addresses to listen on (comma-separated IPs or localhost, as kubectl port-forward's)")
	f.IntVar(&o.APIPort, "api-port", o.APIPort, "Local port of the api (0: a free port)")
	f.IntVar(&o.FrontendPort, "frontend-port", o.FrontendPort, "Local port of the frontend (0: a free port)")
	f.BoolVar(&o.PortForward, "port-forward", false, "In prod, port-forward instead of printing the Ingress hosts")
	return cmd
}

// Complete resolves the environment and namespace.
func (o *AccessOptions) Complete(*cobra.Command, []string) error { return o.Global.Complete() }

// Validate checks the ports and addresses (no I/O).
func (o *AccessOptions) Validate() error {
	for _, p := range []struct {
		flag string
		v    int
	}{{"--api-port", o.APIPort}, {"--frontend-port", o.FrontendPort}} {
		if p.v < 0 || p.v > 65535 {
			return cli.Usagef("%s %d: a port is 0 (a free one) to 65535", p.flag, p.v)
		}
	}
	if o.APIPort != 0 && o.APIPort == o.FrontendPort {
		return cli.Usagef("--api-port and --frontend-port are both %d: give two ports (0 picks a free one)", o.APIPort)
	}
	if len(o.Addresses) == 0 {
		return cli.Usagef("--address: give at least one address (localhost or an IP)")
	}
	for _, a := range o.Addresses {
		if a != "localhost" && net.ParseIP(a) == nil {
			return cli.Usagef("--address %q: use localhost or an IP address", a)
		}
	}
	return nil
}

// Run prints the Ingress hosts (prod) or forwards until ctx ends.
func (o *AccessOptions) Run(ctx context.Context) error {
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	if o.Env.TLS && !o.PortForward {
		return o.printIngress(ctx, cs)
	}
	cfg, err := o.RESTConfig()
	if err != nil {
		return err
	}
	wcs, err := o.Global.WatchClientset()
	if err != nil {
		return err
	}
	var fws []*forwarder
	for _, x := range []struct {
		comp string
		port int
		path string
	}{{app.API, o.APIPort, "/docs"}, {app.Frontend, o.FrontendPort, ""}} {
		c, _ := app.LookupComponent(x.comp)
		svc, err := cs.CoreV1().Services(o.Namespace).Get(ctx, o.Env.ServiceName(c), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return cli.Failedf("service %s not found in namespace %s: the app is not deployed there", o.Env.ServiceName(c), o.Namespace).
				WithHint("check -n/--env, or deploy it: kubectl piyasa deploy --env %s -n %s", o.Env.Name, o.Namespace)
		}
		if err != nil {
			return err
		}
		fw, err := newForwarder(c, svc, o.ErrOut)
		if err != nil {
			return err
		}
		fw.path = x.path
		fw.dial = kubeDialer(wcs, kube.WatchConfig(cfg), o.Namespace)
		fws = append(fws, fw)
		if err := fw.listen(o.Addresses, x.port); err != nil {
			closeAll(fws)
			flag := "--" + x.comp + "-port"
			return cli.Failedf("cannot forward %s: %v", x.comp, err).WithHint("pick another port with %s (0 picks a free one)", flag)
		}
	}
	defer closeAll(fws)

	// One pod informer for the namespace serves both Services' selectors.
	factory := kube.NewInformers(wcs, o.Namespace)
	pods := factory.Core().Pods()
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	_, _ = pods.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { notify() }, UpdateFunc: func(any, any) { notify() }, DeleteFunc: func(any) { notify() },
	})
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), pods.Informer().HasSynced) {
		return nil // Ctrl-C before the pods were read
	}
	follow := func() {
		for _, fw := range fws {
			list, _ := pods.Lister().Pods(o.Namespace).List(fw.selector)
			fw.follow(list)
		}
	}
	follow()
	host := urlHost(o.Addresses[0])
	for _, fw := range fws {
		fmt.Fprintf(o.Out, "%-9s http://%s%s\n", fw.comp.Name+":", net.JoinHostPort(host, strconv.Itoa(fw.localPort)), fw.path)
	}
	o.Infof("Forwarding until Ctrl-C.\n")
	for _, fw := range fws {
		fw.serve(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			// Closing the listeners and connections ends every copy at once.
			closeAll(fws)
			o.Infof("stopped forwarding\n")
			return nil
		case <-changed:
			follow()
		}
	}
}

// printIngress prints the URLs of the app's Ingress (prod).
func (o *AccessOptions) printIngress(ctx context.Context, cs kubernetes.Interface) error {
	name := o.Env.ObjectName(app.IngressName)
	ing, err := cs.NetworkingV1().Ingresses(o.Namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return cli.Failedf("ingress %s not found in namespace %s", name, o.Namespace).
			WithHint("deploy the app (kubectl piyasa deploy --env %s -n %s), or port-forward: kubectl piyasa deploy access --port-forward -n %s", o.Env.Name, o.Namespace, o.Namespace)
	}
	if err != nil {
		return err
	}
	tls := map[string]bool{}
	for _, t := range ing.Spec.TLS {
		for _, h := range t.Hosts {
			tls[h] = true
		}
	}
	found := 0
	for _, x := range []struct{ comp, path string }{{app.API, "/docs"}, {app.Frontend, ""}} {
		c, _ := app.LookupComponent(x.comp)
		for _, r := range ing.Spec.Rules {
			if r.HTTP == nil || r.Host == "" {
				continue
			}
			for _, p := range r.HTTP.Paths {
				if p.Backend.Service == nil || p.Backend.Service.Name != o.Env.ServiceName(c) {
					continue
				}
				scheme := "http"
				if tls[r.Host] {
					scheme = "https"
				}
				fmt.Fprintf(o.Out, "%-9s %s://%s%s\n", x.comp+":", scheme, r.Host, x.path)
				found++
				break
			}
		}
	}
	if found == 0 {
		return cli.Failedf("ingress %s routes no host to %s or %s", name, o.Env.ServiceName(mustComponent(app.API)), o.Env.ServiceName(mustComponent(app.Frontend))).
			WithHint("port-forward instead: kubectl piyasa deploy access --port-forward -n %s", o.Namespace)
	}
	o.Infof("(served through Ingress %s; port-forward instead with --port-forward)\n", name)
	return nil
}

func mustComponent(name string) app.Component {
	c, _ := app.LookupComponent(name)
	return c
}

// urlHost is the host the printed URLs name: localhost for localhost and
// the wildcard addresses, else the address itself.
func urlHost(addr string) string {
	if ip := net.ParseIP(addr); ip != nil && !ip.IsUnspecified() {
		return ip.String()
	}
	return "localhost"
}

func closeAll(fws []*forwarder) {
	for _, fw := range fws {
		fw.close()
	}
}

// dialFunc opens a port-forward connection to a pod.
type dialFunc func(pod string) (httpstream.Connection, error)

// kubeDialer dials pods/portforward as kubectl does: SPDY over WebSocket,
// falling back to SPDY when the server cannot upgrade.
func kubeDialer(cs kubernetes.Interface, cfg *rest.Config, ns string) dialFunc {
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

// forwarder forwards one local port to the pods behind one Service. Its
// listeners stay open for the whole session; each local connection goes to
// the pod chosen at that moment.
type forwarder struct {
	comp      app.Component
	service   string
	selector  labels.Selector
	svcPort   corev1.ServicePort
	path      string
	localPort int
	dial      dialFunc
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

func newForwarder(c app.Component, svc *corev1.Service, info io.Writer) (*forwarder, error) {
	if len(svc.Spec.Selector) == 0 {
		return nil, cli.Failedf("service %s has no selector: no pods to forward to", svc.Name)
	}
	var port *corev1.ServicePort
	for i, p := range svc.Spec.Ports {
		if p.Port == c.Port || (port == nil && p.Name == c.PortName) {
			port = &svc.Spec.Ports[i]
			if p.Port == c.Port {
				break
			}
		}
	}
	if port == nil {
		if len(svc.Spec.Ports) == 0 {
			return nil, cli.Failedf("service %s has no port", svc.Name)
		}
		port = &svc.Spec.Ports[0]
	}
	return &forwarder{comp: c, service: svc.Name, selector: labels.SelectorFromSet(svc.Spec.Selector), svcPort: *port, info: info}, nil
}

// listen opens the local listeners: localhost is 127.0.0.1 and, when the
// machine has it, [::1] on the same port; port 0 picks a free one.
func (f *forwarder) listen(addrs []string, port int) error {
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

// serve accepts local connections until the listeners close.
func (f *forwarder) serve(ctx context.Context) {
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

func (f *forwarder) infof(format string, args ...any) {
	fmt.Fprintf(f.info, "%s: %s\n", f.comp.Name, fmt.Sprintf(format, args...))
}

// follow re-chooses the pod from the Service's pods and says when it changes.
func (f *forwarder) follow(pods []*corev1.Pod) {
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
func (f *forwarder) retire() {
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
func (f *forwarder) acquire() (*podConn, int32, error) {
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

func (f *forwarder) release(pc *podConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pc.active--
	if pc.retired && pc.active == 0 {
		_ = pc.conn.Close()
	}
}

// drop forgets a broken connection so that the next one dials again.
func (f *forwarder) drop(pc *podConn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.conn == pc {
		f.conn = nil
		pc.retired = true
	}
}

func (f *forwarder) nextRequestID() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requestID++
	return strconv.Itoa(f.requestID)
}

// handle forwards one local connection over a pair of streams (error and
// data) of the current pod's connection, as the port-forward protocol
// wants. A connection that cannot open its streams is dialled again once.
func (f *forwarder) handle(ctx context.Context, local net.Conn) {
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
func (f *forwarder) stream(ctx context.Context, pc *podConn, port int32, local net.Conn) (retry bool, err error) {
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

// close stops the listeners and the connection.
func (f *forwarder) close() {
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
