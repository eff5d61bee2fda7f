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
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// DiffOptions of `deploy diff`.
type DiffOptions struct {
	*cli.Global
	EnvFile, Manifests, Image, FrontendImage string
}

// NewCmdDiff compares the overlay with the live namespace.
func NewCmdDiff(g *cli.Global, _ genericiooptions.IOStreams) *cobra.Command {
	o := &DiffOptions{Global: g}
	cmd := &cobra.Command{
		Use:   "diff",
		Short: "Show what deploy would change in the live namespace (exit 0: none, 1: changes)",
		Long: `Compare the rendered overlay with the live namespace through a server-side dry run of the
apply deploy would make, object by object. Secret values are masked; replica counts owned
by an HPA are ignored. With --env-file the Secret is compared by key names.
Exit 0: no changes; 1: changes; 2: bad input; 3: cluster unreachable or forbidden.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().StringVar(&o.EnvFile, "env-file", "", "Also compare Secret piyasa-secrets with this .env (key names only)")
	addManifestsFlag(cmd, &o.Manifests)
	cmd.Flags().StringVar(&o.Image, "image", "", "Image of api and worker: a TAG or a full IMAGE reference")
	cmd.Flags().StringVar(&o.FrontendImage, "frontend-image", "", "Image of the frontend: a TAG or a full IMAGE reference")
	return cmd
}

// Run prints the differences and returns exit 1 when there are some.
func (o *DiffOptions) Run(ctx context.Context) error {
	objs, err := renderFor(o.Global, o.Manifests, o.Image, o.FrontendImage)
	if err != nil {
		return err // bad input, found before any request
	}
	var envSecret map[string][]byte
	if o.EnvFile != "" {
		f, err := loadEnvFile(o.EnvFile, o.Env, configData(objs, o.Env)[app.KeyLLMProvider])
		if err != nil {
			return err
		}
		envSecret = f.Data()
	}
	c, err := newClients(o.Global)
	if err != nil {
		return err
	}
	// As deploy does: without --image the running images are kept.
	apiImg, feImg, err := liveImages(ctx, c.cs, o.Env, o.Namespace)
	if err != nil {
		return err
	}
	if o.Image == "" {
		o.Image = apiImg
	}
	if o.FrontendImage == "" {
		o.FrontendImage = feImg
	}
	if objs, err = renderFor(o.Global, o.Manifests, o.Image, o.FrontendImage); err != nil {
		return err
	}
	if _, err := keepWorkerCount(ctx, c.cs, o.Env, o.Namespace, objs); err != nil {
		return err
	}
	hpaTargets := map[string]bool{}
	for _, u := range objs {
		if u.GetKind() == "HorizontalPodAutoscaler" {
			kind, _, _ := unstructured.NestedString(u.Object, "spec", "scaleTargetRef", "kind")
			name, _, _ := unstructured.NestedString(u.Object, "spec", "scaleTargetRef", "name")
			hpaTargets[kind+"/"+name] = true
		}
	}
	changes := 0
	for _, u := range objs {
		res, err := c.resource(u)
		if err != nil {
			return err
		}
		id := kindLower(u.GetKind()) + "/" + u.GetName()
		live, err := res.Get(ctx, u.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			live = nil
		} else if err != nil {
			return err
		}
		if live == nil && u.GetKind() == "Namespace" {
			changes++
			fmt.Fprintf(o.Out, "%s: to be created\n", id)
			continue
		}
		if live == nil {
			if _, err := c.cs.CoreV1().Namespaces().Get(ctx, o.Namespace, metav1.GetOptions{}); apierrors.IsNotFound(err) {
				changes++
				fmt.Fprintf(o.Out, "%s: to be created\n", id)
				continue
			}
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
	if envSecret != nil {
		cur, err := c.cs.CoreV1().Secrets(o.Namespace).Get(ctx, app.SecretName, metav1.GetOptions{})
		var ch secretChange
		switch {
		case apierrors.IsNotFound(err):
			ch = secretChange{Created: true}
		case err != nil:
			return safeErr("cannot read Secret "+app.SecretName+": "+apiReason(err), err)
		default:
			ch = compareSecret(cur.Data, envSecret)
		}
		if !ch.Empty() {
			changes++
			if ch.Created {
				ch = secretChange{Added: sortedKeys(envSecret)}
				fmt.Fprintf(o.Out, "secret/%s: to be created with keys %s (values not shown)\n", app.SecretName, strings.Join(ch.Added, ","))
			} else {
				fmt.Fprintf(o.Out, "secret/%s: %s (values not shown)\n", app.SecretName, ch)
			}
		}
	}
	if changes == 0 {
		o.Infof("no changes\n")
		return nil
	}
	o.Infof("%s would change\n", plural(changes, "object"))
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
