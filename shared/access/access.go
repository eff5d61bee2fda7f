// Package access implements `kubectl piyasa deploy access`: reach the app
// (the guide's Procedure 1 step 7) by port-forwarding its api and frontend
// through kube.PortForwarder, or, in prod, by printing its Ingress hosts.
//
// access.go is the command; ingress.go prints the Ingress hosts.
package access

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/rbac"
)

// Options of `deploy access`: the guide's Procedure 1 step 7.
type Options struct {
	*cli.Global
	Addresses    []string
	APIPort      int
	FrontendPort int
	PortForward  bool
}

// NewOptions returns the defaults: the guide's local ports.
func NewOptions(g *cli.Global) *Options {
	api, _ := app.LookupComponent(app.API)
	fe, _ := app.LookupComponent(app.Frontend)
	return &Options{Global: g, Addresses: []string{"localhost"}, APIPort: int(api.Port), FrontendPort: int(fe.Port)}
}

// NewCmd port-forwards the api and the frontend together (prod: prints the Ingress hosts).
func NewCmd(g *cli.Global) *cobra.Command {
	o := NewOptions(g)
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
func (o *Options) Complete(*cobra.Command, []string) error { return o.Global.Complete() }

// Validate checks the ports and addresses (no I/O).
func (o *Options) Validate() error {
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
func (o *Options) Run(ctx context.Context) error {
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
	dial := kube.NewPodDialer(wcs, kube.WatchConfig(cfg), o.Namespace)
	var fws []*forward
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
		pf, err := kube.NewPortForwarder(c.Name, svc, c.Port, c.PortName, dial, o.ErrOut)
		if err != nil {
			return cli.Failedf("%v", err)
		}
		fw := &forward{PortForwarder: pf, path: x.path}
		fws = append(fws, fw)
		if err := fw.Listen(o.Addresses, x.port); err != nil {
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
			list, _ := pods.Lister().Pods(o.Namespace).List(fw.Selector())
			fw.Follow(list)
		}
	}
	follow()
	host := urlHost(o.Addresses[0])
	for _, fw := range fws {
		fmt.Fprintf(o.Out, "%-9s http://%s%s\n", fw.Name()+":", net.JoinHostPort(host, strconv.Itoa(fw.LocalPort())), fw.path)
	}
	o.Infof("Forwarding until Ctrl-C.\n")
	for _, fw := range fws {
		fw.Serve(ctx)
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

// urlHost is the host the printed URLs name: localhost for localhost and
// the wildcard addresses, else the address itself.
func urlHost(addr string) string {
	if ip := net.ParseIP(addr); ip != nil && !ip.IsUnspecified() {
		return ip.String()
	}
	return "localhost"
}

// forward is the forwarder of one component and the path its printed URL names.
type forward struct {
	*kube.PortForwarder
	path string
}

func closeAll(fws []*forward) {
	for _, fw := range fws {
		fw.Close()
	}
}

// NeededRights of deploy access: none when prod only prints the Ingress hosts.
func (o *Options) NeededRights(context.Context) (*rbac.Needs, error) {
	if o.Env.TLS && !o.PortForward {
		return nil, nil
	}
	return rbac.For("deploy access").Needs(o.Namespace), nil
}
