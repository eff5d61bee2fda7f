package deploy

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/pmezard/go-difflib/difflib"
	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/envfile"
)

// DiffOptions of `deploy diff`.
type DiffOptions struct {
	*cli.Global
	EnvFile, Manifests, Image, FrontendImage string

	objs []*unstructured.Unstructured
	env  *envfile.File
}

// NewDiffOptions returns the defaults.
func NewDiffOptions(g *cli.Global) *DiffOptions { return &DiffOptions{Global: g} }

// NewCmdDiff compares the overlay with the live namespace.
func NewCmdDiff(g *cli.Global) *cobra.Command {
	o := NewDiffOptions(g)
	cmd := &cobra.Command{
		Use:   "diff",
		Short: "Show what deploy would change in the live namespace (exit 0: none, 1: changes)",
		Long: `Compare what deploy would apply (the same plan: running images and worker count kept)
with the live namespace through a server-side dry run, object by object, and list what it
would revert (config set, scale hpa) and restart. Secret values are masked; replica counts
owned by an HPA are ignored. With --env-file the Secret is compared by key names.
Exit 0: no changes; 1: changes; 2: bad input; 3: cluster unreachable or forbidden.`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	cmd.Flags().StringVar(&o.EnvFile, "env-file", "", "Also compare Secret piyasa-secrets with this .env (key names only)")
	addManifestsFlag(cmd, &o.Manifests)
	cmd.Flags().StringVar(&o.Image, "image", "", "Image of api and worker: a TAG or a full IMAGE reference")
	cmd.Flags().StringVar(&o.FrontendImage, "frontend-image", "", "Image of the frontend: a TAG or a full IMAGE reference")
	return cmd
}

// Complete renders the manifests and reads the .env (before any request).
func (o *DiffOptions) Complete(*cobra.Command, []string) error {
	if err := o.Global.Complete(); err != nil {
		return err
	}
	var err error
	if o.objs, err = renderFor(o.Global, o.Manifests, o.Image, o.FrontendImage); err != nil {
		return err
	}
	if o.EnvFile != "" {
		o.env, err = readEnvFile(o.EnvFile)
	}
	return err
}

// Validate checks the .env, as deploy does (no I/O).
func (o *DiffOptions) Validate() error {
	if o.env == nil {
		return nil
	}
	return validateEnvFile(o.env, o.Env, configData(o.objs, o.Env)[app.KeyLLMProvider])
}

// Run prints the differences and returns exit 1 when there are some.
func (o *DiffOptions) Run(ctx context.Context) error {
	c, err := newClients(o.Global)
	if err != nil {
		return err
	}
	in := planInput{objs: o.objs, image: o.Image, frontendImage: o.FrontendImage}
	if o.env != nil {
		in.secret = secretObject(o.Namespace, o.env)
	}
	p, err := planDeploy(ctx, o.Global, c, in)
	if err != nil {
		return err
	}
	hpaTargets := map[string]bool{}
	for _, u := range p.objs {
		if u.GetKind() == "HorizontalPodAutoscaler" {
			kind, _, _ := unstructured.NestedString(u.Object, "spec", "scaleTargetRef", "kind")
			name, _, _ := unstructured.NestedString(u.Object, "spec", "scaleTargetRef", "name")
			hpaTargets[kind+"/"+name] = true
		}
	}
	changes := 0
	for _, u := range p.objs {
		id := kindLower(u.GetKind()) + "/" + u.GetName()
		if !p.nsExists {
			changes++
			fmt.Fprintf(o.Out, "%s: to be created\n", id)
			continue
		}
		res, err := c.resource(u)
		if err != nil {
			return err
		}
		live, err := res.Get(ctx, u.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			live = nil
		} else if err != nil {
			return err
		}
		merged, err := res.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: app.FieldManager, Force: true, DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			return fmt.Errorf("server-side dry run of %s: %w", id, err)
		}
		ignoreReplicas := hpaTargets[u.GetKind()+"/"+u.GetName()]
		a, b := normalize(live, ignoreReplicas), normalize(merged, ignoreReplicas)
		if u.GetKind() == "Secret" {
			maskSecrets(a, b)
		}
		if d := unifiedDiff(id, a, b); d != "" {
			changes++
			io.WriteString(o.Out, d)
		}
	}
	if p.secret != nil && !p.secret.change.Empty() {
		changes++
		ch := p.secret.change
		if ch.Created {
			fmt.Fprintf(o.Out, "secret/%s: to be created with keys %s (values not shown)\n", app.SecretName, strings.Join(sortedKeys(p.secret.want.Data), ","))
		} else {
			fmt.Fprintf(o.Out, "secret/%s: %s (values not shown)\n", app.SecretName, ch)
		}
	}
	for _, line := range p.reverts {
		fmt.Fprintf(o.Out, "to be reverted: %s\n", line)
	}
	for _, w := range p.restart {
		fmt.Fprintf(o.Out, "%s/%s: to be restarted (%s changed)\n", kindLower(w.Kind), w.Name, p.why())
	}
	if changes == 0 {
		o.Infof("no changes\n")
		return nil
	}
	o.Infof("%s would change\n", cli.Plural(changes, "object", "objects"))
	return cli.ExitCode(cli.ExitFailed)
}

func sortedKeys(m map[string][]byte) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// normalize drops what the server maintains, so that only desired state is compared.
func normalize(u *unstructured.Unstructured, ignoreReplicas bool) map[string]any {
	if u == nil {
		return nil
	}
	m := u.DeepCopy().Object
	for _, f := range []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp", "selfLink"} {
		unstructured.RemoveNestedField(m, "metadata", f)
	}
	unstructured.RemoveNestedField(m, "metadata", "annotations", "deployment.kubernetes.io/revision")
	if ann, ok, _ := unstructured.NestedMap(m, "metadata", "annotations"); ok && len(ann) == 0 {
		unstructured.RemoveNestedField(m, "metadata", "annotations")
	}
	delete(m, "status")
	if ignoreReplicas {
		unstructured.RemoveNestedField(m, "spec", "replicas")
	}
	return m
}

// maskSecrets replaces Secret values by markers that show only whether a
// value changed.
func maskSecrets(live, merged map[string]any) {
	ld, _, _ := unstructured.NestedMap(live, "data")
	md, _, _ := unstructured.NestedMap(merged, "data")
	mask := func(m map[string]any, other map[string]any, changed string) map[string]any {
		out := map[string]any{}
		for k, v := range m {
			out[k] = "*** (masked)"
			if ov, ok := other[k]; ok && ov != v {
				out[k] = changed
			}
		}
		return out
	}
	if live != nil && ld != nil {
		_ = unstructured.SetNestedMap(live, mask(ld, md, "*** (masked, old)"), "data")
	}
	if merged != nil && md != nil {
		_ = unstructured.SetNestedMap(merged, mask(md, ld, "*** (masked, new)"), "data")
	}
	unstructured.RemoveNestedField(live, "stringData")
	unstructured.RemoveNestedField(merged, "stringData")
}

// unifiedDiff returns a unified diff of two objects' YAML ("" when equal).
func unifiedDiff(id string, a, b map[string]any) string {
	ya, yb := "", ""
	if a != nil {
		y, _ := yaml.Marshal(a)
		ya = string(y)
	}
	if b != nil {
		y, _ := yaml.Marshal(b)
		yb = string(y)
	}
	if ya == yb {
		return ""
	}
	d, _ := difflib.GetUnifiedDiffString(difflib.UnifiedDiff{
		A: difflib.SplitLines(ya), B: difflib.SplitLines(yb),
		FromFile: "live/" + id, ToFile: "merged/" + id, Context: 3,
	})
	return d
}
