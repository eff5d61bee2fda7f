package access

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// printIngress prints the URLs of the app's Ingress (prod).
func (o *Options) printIngress(ctx context.Context, cs kubernetes.Interface) error {
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
