// Package deploy implements `kubectl piyasa deploy`: the guide's Procedures
// 1 and 2 (first deployment, image updates and rollbacks), configuration
// changes and secret rotation, status, diff and deletion of the app.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/render"
)

// Dry-run modes.
const (
	DryRunNone   = "none"
	DryRunClient = "client"
	DryRunServer = "server"
)

// DefaultTimeout bounds waiting for a rollout.
const DefaultTimeout = 10 * time.Minute

// clients are the API clients a command needs.
type clients struct {
	cs     kubernetes.Interface
	dyn    dynamic.Interface
	mapper meta.RESTMapper
}

func newClients(g *cli.Global) (*clients, error) {
	cs, err := g.Clientset()
	if err != nil {
		return nil, err
	}
	dyn, err := g.Dynamic()
	if err != nil {
		return nil, err
	}
	mapper, err := g.RESTMapper()
	if err != nil {
		return nil, err
	}
	return &clients{cs: cs, dyn: dyn, mapper: mapper}, nil
}

// watchClientset returns a clientset for long watches (no request timeout).
func watchClientset(g *cli.Global) (kubernetes.Interface, error) {
	cfg, err := g.RESTConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(kube.WatchConfig(cfg))
}

// resource returns the dynamic client of an object's kind.
func (c *clients) resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, error) {
	gvk := obj.GroupVersionKind()
	m, err := c.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, fmt.Errorf("the cluster does not serve %s: %v", gvk.Kind, err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		return c.dyn.Resource(m.Resource).Namespace(obj.GetNamespace()), nil
	}
	return c.dyn.Resource(m.Resource), nil
}

// addDryRun adds --dry-run=client|server.
func addDryRun(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "dry-run", DryRunNone, `"client" prints what would change without contacting the cluster for changes; "server" sends the changes as a server-side dry run; "none" makes them`)
	_ = cmd.RegisterFlagCompletionFunc("dry-run", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{DryRunNone, DryRunClient, DryRunServer}, cobra.ShellCompDirectiveNoFileComp
	})
}

func validateDryRun(v string) error {
	switch v {
	case DryRunNone, DryRunClient, DryRunServer:
		return nil
	}
	return cli.Usagef("invalid --dry-run %q: use client, server or none", v)
}

func dryRunOpt(v string) []string {
	if v == DryRunServer {
		return []string{metav1.DryRunAll}
	}
	return nil
}

func dryRunSuffix(v string) string {
	switch v {
	case DryRunClient:
		return " (dry run)"
	case DryRunServer:
		return " (server dry run)"
	}
	return ""
}

// addWait adds --wait and --timeout.
func addWait(cmd *cobra.Command, wait *bool, timeout *time.Duration) {
	cmd.Flags().BoolVar(wait, "wait", true, "Wait until every workload is ready (watching, failing fast on crashing pods)")
	cmd.Flags().DurationVar(timeout, "timeout", DefaultTimeout, "How long to wait for the rollout (0: no limit)")
}

// workloadsOf lists the Deployments and StatefulSets among objs, in the
// order of app.Components, then others by name.
func workloadsOf(objs []*unstructured.Unstructured) []kube.Workload {
	var known, other []kube.Workload
	byComp := map[string]kube.Workload{}
	for _, o := range objs {
		if o.GetKind() != app.KindDeployment && o.GetKind() != app.KindStatefulSet {
			continue
		}
		labels, _, _ := unstructured.NestedStringMap(o.Object, "spec", "selector", "matchLabels")
		comp := app.ComponentNameForLabels(labels)
		w := kube.Workload{Component: comp, Kind: o.GetKind(), Name: o.GetName()}
		if comp == "" {
			w.Component = o.GetName()
			other = append(other, w)
			continue
		}
		byComp[comp] = w
	}
	for _, c := range app.Components {
		if w, ok := byComp[c.Name]; ok {
			known = append(known, w)
		}
	}
	return append(known, other...)
}

// envWorkloads are the workloads of the app's components in an environment.
func envWorkloads(env app.Environment, names ...string) []kube.Workload {
	var out []kube.Workload
	for _, c := range app.Components {
		if len(names) > 0 && !contains(names, c.Name) {
			continue
		}
		out = append(out, kube.Workload{Component: c.Name, Kind: c.Kind, Name: env.WorkloadName(c)})
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// renderFor renders the manifests selected by the shared flags.
func renderFor(g *cli.Global, dir, apiImage, frontendImage string) ([]*unstructured.Unstructured, error) {
	objs, err := render.Render(render.Options{Env: g.Env, Namespace: g.Namespace, Dir: dir, APIImage: apiImage, FrontendImage: frontendImage})
	if err != nil {
		if ie := (*render.ImageError)(nil); errors.As(err, &ie) {
			return nil, cli.Usagef("%v", ie)
		}
		return nil, cli.Usagef("cannot render the manifests: %v", err).WithHint("check --manifests DIR (a kustomization directory)")
	}
	return objs, nil
}

// age formats the time since t as kubectl does.
func age(now time.Time, t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(t.Time))
}

// continueHint is printed when Ctrl-C stops a wait.
func continueHint(w io.Writer, g *cli.Global) {
	fmt.Fprintf(w, "interrupted: what was applied stays applied; follow the rollout with: kubectl piyasa deploy status -n %s\n", g.Namespace)
}

// waitErr turns a wait error into the command's error.
func waitErr(ctx context.Context, g *cli.Global, err error) error {
	switch e := err.(type) {
	case *kube.TimeoutError:
		return cli.Failedf("%v", e).WithHint("see why: kubectl piyasa diagnose -n %s", g.Namespace)
	case *kube.FailureError:
		return cli.Failedf("%v", e).WithHint("fix the cause and deploy again, or roll back: kubectl piyasa deploy rollback -n %s", g.Namespace)
	}
	if ctx.Err() != nil {
		continueHint(g.ErrOut, g)
		return ctx.Err()
	}
	return err
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

func kindLower(kind string) string { return strings.ToLower(kind) }
