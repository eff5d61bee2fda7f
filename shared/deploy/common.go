// Package deploy implements `kubectl piyasa deploy`: the guide's Procedures
// 1 and 2 (first deployment, image updates and rollbacks), configuration
// changes and secret rotation, status, diff and deletion of the app.
//
// The suite's file naming: the group's root command in deploy.go (named for
// the package), one file per subcommand named for its verb (apply.go for
// the root's own action, diff.go, update.go, rollback.go, config.go,
// secret.go, status.go, history.go, delete.go, initenv.go, render.go), and
// the mechanics the verbs share each in a file named for them: plan.go (what
// deploy and diff would change), image.go (set and revert images),
// restart.go, appsecret.go, wait.go and report.go.
// deploy access, deploy tls and deploy cleanup are packages of their own
// (shared/access, shared/deploytls, shared/cleanup) that NewCmd adds.
package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/render"
)

// DefaultTimeout bounds waiting for a rollout.
const DefaultTimeout = 10 * time.Minute

// DefaultRollbackTimeout bounds waiting for an automatic rollback, which
// starts when the update's own timeout may have run out.
const DefaultRollbackTimeout = 5 * time.Minute

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

// waitFlags are --wait and --timeout.
type waitFlags struct {
	Wait    bool
	Timeout time.Duration
}

func defaultWait() waitFlags { return waitFlags{Wait: true, Timeout: DefaultTimeout} }

func (w *waitFlags) add(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&w.Wait, "wait", w.Wait, "Wait until every workload is ready (watching, failing fast on crashing or refused pods)")
	cmd.Flags().DurationVar(&w.Timeout, "timeout", w.Timeout, "How long to wait for the rollout (0: no limit)")
}

func (w *waitFlags) validate() error {
	if w.Timeout < 0 {
		return cli.Usagef("--timeout must not be negative")
	}
	return nil
}

func addManifestsFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "manifests", "", "A kustomization directory to use instead of the embedded overlay of --env")
}

// completeDryRun reads --dry-run (kubectl's parsing).
func completeDryRun(cmd *cobra.Command, g *cli.Global) (cli.DryRun, error) {
	return cli.GetDryRun(cmd, g.ErrOut)
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
		comp := workloadComponent(o)
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

// workloadComponent names the component a workload object belongs to.
func workloadComponent(u *unstructured.Unstructured) string {
	labels, _, _ := unstructured.NestedStringMap(u.Object, "spec", "selector", "matchLabels")
	return app.ComponentNameForLabels(labels)
}

// renderFor renders the manifests selected by the shared flags; every
// problem is bad input (exit 2), found before any request.
func renderFor(g *cli.Global, dir, apiImage, frontendImage string) ([]*unstructured.Unstructured, error) {
	return renderWith(render.Options{Env: g.Env, Namespace: g.Namespace, Dir: dir, APIImage: apiImage, FrontendImage: frontendImage})
}

// renderWith renders o, as renderFor does.
func renderWith(o render.Options) ([]*unstructured.Unstructured, error) {
	objs, err := render.Render(o)
	if err != nil {
		if ie := (*render.ImageError)(nil); errors.As(err, &ie) {
			return nil, cli.Usagef("%v", ie)
		}
		return nil, cli.Usagef("cannot render the manifests: %v", err).WithHint("check --manifests DIR (a kustomization directory)")
	}
	return objs, nil
}

// interruptedWait is the exit-130 error of a wait that Ctrl-C or SIGTERM
// stopped: what was applied stays, the rollout goes on in the cluster.
func interruptedWait(g *cli.Global) *cli.Error {
	return cli.Interruptedf("interrupted while waiting: what was applied stays applied and the rollout goes on in the cluster").
		WithHint("follow the rollout with: kubectl piyasa deploy status -n %s", g.Namespace)
}

// waitErr turns a wait error into the command's error (cli.WaitError; an
// interruption is interruptedWait).
func waitErr(ctx context.Context, g *cli.Global, err error) error {
	if cli.Waited(err) {
		return cli.WaitError(err, g.Namespace, fmt.Sprintf("fix the cause and deploy again, or roll back: kubectl piyasa deploy rollback -n %s", g.Namespace))
	}
	if ctx.Err() != nil {
		return interruptedWait(g)
	}
	return err
}

func isTimeout(err error) bool { return errors.As(err, new(*kube.TimeoutError)) }

func kindLower(kind string) string { return strings.ToLower(kind) }
