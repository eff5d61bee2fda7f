package deploy

import (
	"context"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/rbac"
)

// The rights each deploy command checks before it changes anything (see
// cli.RightsNeeder and the table rbac.Commands, which the README's "Rights
// (RBAC)" section lists).

// applyRights are the rights of the server-side apply of objs: create and
// patch of each kind; the namespace's own Namespace object is patched (a
// RoleBinding in it covers that), or created cluster-wide when it does not
// exist yet.
func applyRights(ctx context.Context, g *cli.Global, objs []*unstructured.Unstructured) ([]rbac.Right, error) {
	mapper, err := g.RESTMapper()
	if err != nil {
		return nil, err
	}
	var out []rbac.Right
	for _, u := range objs {
		gvk := u.GroupVersionKind()
		if gvk.Kind == "Namespace" && gvk.Group == "" {
			out = append(out, rbac.Right{Verb: "patch", Resource: "namespaces"})
			continue
		}
		m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
		if err != nil {
			continue // the apply says that the cluster does not serve the kind
		}
		out = append(out, rbac.Apply(m.Resource.Group, m.Resource.Resource, m.Scope.Name() != meta.RESTScopeNameNamespace)...)
	}
	cs, err := g.Clientset()
	if err != nil {
		return nil, err
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, g.Namespace, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		out = append(out, rbac.Right{Verb: "create", Resource: "namespaces", Cluster: true})
	}
	return out, nil
}

// NeededRights of deploy: the apply of the rendered objects, the Secret and the wait.
func (o *Options) NeededRights(ctx context.Context) (*rbac.Needs, error) {
	if o.DryRun.Client() || o.Fleet != "" {
		// deploy --fleet checks each region's in its own cluster.
		return nil, nil
	}
	apply, err := applyRights(ctx, o.Global, o.objs)
	if err != nil {
		return nil, err
	}
	c := rbac.For("deploy")
	n := c.Needs(o.Namespace, apply)
	n.Rights = rbac.Join(withoutApply(c.Rights), apply)
	return n, nil
}

// withoutApply drops the embedded manifests' apply rights from rs: deploy
// and diff check those of the objects actually rendered (--manifests DIR).
func withoutApply(rs []rbac.Right) []rbac.Right {
	drop := map[rbac.Right]bool{}
	for _, r := range rbac.DeployApply {
		drop[r] = true
	}
	var out []rbac.Right
	for _, r := range rs {
		if !drop[r] {
			out = append(out, r)
		}
	}
	return out
}

// NeededRights of deploy diff: the server-side dry run of the apply.
func (o *DiffOptions) NeededRights(ctx context.Context) (*rbac.Needs, error) {
	apply, err := applyRights(ctx, o.Global, o.objs)
	if err != nil {
		return nil, err
	}
	c := rbac.For("deploy diff")
	n := c.Needs(o.Namespace)
	var gets []rbac.Right
	for _, r := range apply {
		if r.Verb == "patch" {
			r.Verb = "get"
			gets = append(gets, r)
		}
	}
	n.Rights = rbac.Join(rbac.R("", []string{"secrets"}, "get"), apply, gets)
	return n, nil
}

// NeededRights of deploy update; --migrate adds migrate up's and the backup's.
func (o *UpdateOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	if o.DryRun.Client() || o.Fleet.on() {
		// --fleet checks each region's rights before the release starts.
		return nil, nil
	}
	n := rbac.For("deploy update").Needs(o.Namespace)
	if o.Migrate.On && !o.DryRun.Active() {
		n.Rights = rbac.Join(n.Rights, rbac.For("migrate up|down").Rights)
		if o.Migrate.Backup.On() {
			n.Rights = rbac.Join(n.Rights, rbac.For("backup create").Rights)
		}
	}
	return n, nil
}

// NeededRights of deploy rollback.
func (o *RollbackOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	if o.DryRun.Client() {
		return nil, nil
	}
	return rbac.For("deploy rollback").Needs(o.Namespace), nil
}

// NeededRights of deploy config set|unset.
func (o *ConfigOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	if o.DryRun.Client() {
		return nil, nil
	}
	as := "deploy config set"
	if o.Unset {
		as = "deploy config unset"
	}
	return rbac.For("deploy config set|unset").Needs(o.Namespace).As(as), nil
}

// NeededRights of deploy secret rotate.
func (o *SecretRotateOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	if o.DryRun.Client() {
		return nil, nil
	}
	return rbac.For("deploy secret rotate").Needs(o.Namespace), nil
}

// NeededRights of deploy status.
func (o *StatusOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	return rbac.For("deploy status").Needs(o.Namespace), nil
}

// NeededRights of deploy history.
func (o *HistoryOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	return rbac.For("deploy history").Needs(o.Namespace), nil
}
