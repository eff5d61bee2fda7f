package deploy

import (
	"context"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/rbac"
	"github.com/piyasa/kubectl-piyasa/shared/render"
)

// RenderOptions of `deploy render`.
type RenderOptions struct {
	*cli.Global
	Manifests, Image, FrontendImage string

	// RBAC prints the suite's Roles (and bindings) instead of the app's manifests.
	RBAC bool
	// Roles are the short names of --role (empty: all three).
	Roles []string
	// ServiceAccounts ([NS/]NAME), Users and Groups get a binding to each Role.
	ServiceAccounts, Users, Groups []string
	// ClusterReader adds the ClusterRole piyasa-cluster-reader and its bindings.
	ClusterReader bool

	objs     []*unstructured.Unstructured
	subjects []rbac.Subject
	cmd      *cobra.Command
}

// NewRenderOptions returns the defaults.
func NewRenderOptions(g *cli.Global) *RenderOptions { return &RenderOptions{Global: g} }

// NewCmdRender prints the rendered manifests, or with --rbac the Roles a team grants.
func NewCmdRender(g *cli.Global) *cobra.Command {
	o := NewRenderOptions(g)
	cmd := &cobra.Command{
		Use:   "render [--rbac [--role viewer|operator|deployer] [--bind-user U | --bind-group G | --bind-service-account [NS/]NAME] [--cluster-reader]]",
		Short: "Print the manifests deploy would apply (YAML), for --env and -n; --rbac: the suite's Roles and their bindings",
		Long: `Print the manifests deploy would apply (YAML), for --env and -n.

With --rbac, print instead the Roles a team grants in the namespace, for kubectl apply -f -:
piyasa-viewer (status, history, diagnose: read-only, no Secret), piyasa-operator (viewer's
rights, and scale, backup, migrate) and piyasa-deployer (operator's rights, and deploy,
update, rollback, config, secret rotate). --role picks one or more (default: all three);
each --bind-user, --bind-group and --bind-service-account adds a RoleBinding to each Role picked.
--cluster-reader adds the ClusterRole piyasa-cluster-reader (nodes, StorageClasses,
IngressClasses, the metrics APIService, namespace names: read-only) and a ClusterRoleBinding
per subject; without it, the checks that read those are skipped with the reason.`,
		Example: `  kubectl piyasa deploy render --env prod > prod.yaml
  kubectl piyasa deploy render --rbac -n team-a | kubectl apply -f -
  kubectl piyasa deploy render --rbac --role operator --bind-user alice -n team-a | kubectl apply -f -
  kubectl piyasa deploy render --rbac --role deployer --bind-service-account ci/deployer -n team-a | kubectl apply -f -
  kubectl piyasa deploy render --rbac --role viewer --bind-group oncall --cluster-reader -n team-a | kubectl apply -f -`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	addManifestsFlag(cmd, &o.Manifests)
	f := cmd.Flags()
	f.StringVar(&o.Image, "image", "", "Image of api and worker: a TAG or a full IMAGE reference")
	f.StringVar(&o.FrontendImage, "frontend-image", "", "Image of the frontend: a TAG or a full IMAGE reference")
	f.BoolVar(&o.RBAC, "rbac", false, "Print the suite's Roles (piyasa-viewer, piyasa-operator, piyasa-deployer) for the namespace instead of the app's manifests")
	f.StringSliceVar(&o.Roles, "role", nil, "With --rbac: the Roles to print, "+strings.Join(rbac.RoleNames, "|")+" (repeatable or comma-separated; default: all)")
	f.StringArrayVar(&o.Users, "bind-user", nil, "With --rbac: bind the Roles to this user (repeatable; --user is kubectl's, the kubeconfig user)")
	f.StringArrayVar(&o.Groups, "bind-group", nil, "With --rbac: bind the Roles to this group (repeatable)")
	f.StringArrayVar(&o.ServiceAccounts, "bind-service-account", nil, "With --rbac: bind the Roles to this ServiceAccount, [NS/]NAME (NS defaults to the namespace; repeatable)")
	f.BoolVar(&o.ClusterReader, "cluster-reader", false, "With --rbac: add the ClusterRole "+rbac.ClusterReaderName+" (cluster-scoped reads) and a ClusterRoleBinding per subject")
	o.cmd = cmd
	return cmd
}

// Complete resolves the environment and namespace and renders the manifests
// (not with --rbac).
func (o *RenderOptions) Complete(*cobra.Command, []string) error {
	if err := o.Global.Complete(); err != nil {
		return err
	}
	if o.RBAC {
		return nil
	}
	var err error
	o.objs, err = renderFor(o.Global, o.Manifests, o.Image, o.FrontendImage)
	return err
}

// Validate checks the --rbac flags (no I/O); the manifests' render checked the others.
func (o *RenderOptions) Validate() error {
	if !o.RBAC {
		for _, name := range []string{"role", "bind-user", "bind-group", "bind-service-account", "cluster-reader"} {
			if o.cmd != nil && o.cmd.Flags().Changed(name) {
				return cli.Usagef("--%s is a flag of render --rbac", name).WithHint("kubectl piyasa deploy render --rbac --%s ...", name)
			}
		}
		return nil
	}
	for _, name := range []string{"manifests", "image", "frontend-image"} {
		if o.cmd != nil && o.cmd.Flags().Changed(name) {
			return cli.Usagef("--%s renders the app's manifests: it does not go with --rbac", name)
		}
	}
	for _, r := range o.Roles {
		if _, ok := rbac.Lookup(r); !ok {
			return cli.Usagef("unknown --role %q", r).WithHint("use %s", strings.Join(rbac.RoleNames, ", "))
		}
	}
	o.subjects = nil
	for _, kind := range []struct {
		kind, flag string
		names      []string
	}{{"User", "bind-user", o.Users}, {"Group", "bind-group", o.Groups}} {
		for _, n := range kind.names {
			if strings.TrimSpace(n) == "" {
				return cli.Usagef("--%s must not be empty", kind.flag)
			}
			o.subjects = append(o.subjects, rbac.Subject{Kind: kind.kind, Name: n})
		}
	}
	for _, sa := range o.ServiceAccounts {
		ns, name, ok := strings.Cut(sa, "/")
		if !ok {
			ns, name = o.Namespace, sa
		}
		if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
			return cli.Usagef("--bind-service-account %q: %s is not a valid name", sa, name).WithHint("give [NAMESPACE/]NAME, e.g. ci/deployer")
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return cli.Usagef("--bind-service-account %q: %s is not a valid namespace", sa, ns).WithHint("give [NAMESPACE/]NAME, e.g. ci/deployer")
		}
		o.subjects = append(o.subjects, rbac.Subject{Kind: "ServiceAccount", Name: name, Namespace: ns})
	}
	return nil
}

// Run prints the YAML.
func (o *RenderOptions) Run(context.Context) error {
	if o.RBAC {
		return rbac.Render(o.Out, rbac.RenderInput{Namespace: o.Namespace, Roles: o.Roles, Subjects: o.subjects, ClusterReader: o.ClusterReader})
	}
	y, err := render.YAML(o.objs)
	if err != nil {
		return err
	}
	_, err = o.Out.Write(y)
	return err
}
