package deploy

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/render"
)

// Options of `kubectl piyasa deploy`: the guide's Procedure 1.
type Options struct {
	*cli.Global

	EnvFile       string
	Manifests     string
	Image         string
	FrontendImage string
	DryRun        string
	Wait          bool
	Timeout       time.Duration

	objs []*unstructured.Unstructured
}

// NewOptions returns the defaults.
func NewOptions(g *cli.Global) *Options {
	return &Options{Global: g, EnvFile: ".env", DryRun: DryRunNone, Wait: true, Timeout: DefaultTimeout}
}

// NewCmdDeploy makes root the deploy command itself and adds the subcommands.
func NewCmdDeploy(root *cobra.Command, g *cli.Global, streams genericiooptions.IOStreams) {
	o := NewOptions(g)
	root.Long = `Deploy the app: validate the .env, create the namespace and Secret piyasa-secrets,
render the environment's overlay (embedded, or --manifests DIR), apply it server-side
(field manager kubectl-piyasa) and wait, by watching, until every component is ready.
A pod in CrashLoopBackOff, OOMKilled, ImagePullBackOff, CreateContainerConfigError or
Unschedulable stops the wait at once (exit 1) with its events and last log lines.

A redeploy keeps the running api/worker/frontend images (unless --image/--frontend-image)
and a consistent worker count (replicas = TOTAL_WORKERS, as 'kubectl piyasa scale worker'
sets it), and restarts the api and workers when piyasa-config or piyasa-secrets changed.
Exit codes: 0 ready; 1 rollout failed or timed out; 2 bad input (nothing applied);
3 cluster unreachable or forbidden; 130 interrupted (what was applied stays).`
	root.Example = `  kubectl piyasa deploy init-env -f .env
  kubectl piyasa deploy --env dev --env-file .env
  kubectl piyasa deploy --env prod --env-file .env.prod --image v2.0.0
  kubectl piyasa deploy --env dev -n my-test --dry-run=server`
	root.Args = cobra.NoArgs
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := o.Complete(); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(cmd.Context())
	}
	f := root.Flags()
	f.StringVar(&o.EnvFile, "env-file", o.EnvFile, "The .env file that becomes Secret piyasa-secrets")
	addManifestsFlag(root, &o.Manifests)
	f.StringVar(&o.Image, "image", "", "Image of api and worker: a TAG (v2.0.0) or a full IMAGE reference; default: the running image, else the manifests' tag")
	f.StringVar(&o.FrontendImage, "frontend-image", "", "Image of the frontend: a TAG or a full IMAGE reference; default: the running image, else the manifests' tag")
	addDryRun(root, &o.DryRun)
	addWait(root, &o.Wait, &o.Timeout)

	root.AddCommand(
		NewCmdInitEnv(g, streams),
		NewCmdRender(g, streams),
		NewCmdStatus(g, streams),
		NewCmdDiff(g, streams),
		NewCmdUpdate(g, streams),
		NewCmdRollback(g, streams),
		NewCmdHistory(g, streams),
		NewCmdConfig(g, streams),
		NewCmdSecret(g, streams),
		NewCmdDelete(g, streams),
	)
}

func addManifestsFlag(cmd *cobra.Command, p *string) {
	cmd.Flags().StringVar(p, "manifests", "", "A kustomization directory to use instead of the embedded overlay of --env")
}

// Complete resolves the environment and namespace.
func (o *Options) Complete() error { return o.Global.Complete() }

// Validate checks flags, renders the manifests and validates the .env:
// nothing touches the cluster before every input is known to be good.
func (o *Options) Validate() error {
	if err := validateDryRun(o.DryRun); err != nil {
		return err
	}
	if o.Timeout < 0 {
		return cli.Usagef("--timeout must not be negative")
	}
	objs, err := renderFor(o.Global, o.Manifests, o.Image, o.FrontendImage)
	if err != nil {
		return err
	}
	o.objs = objs
	return nil
}

// configData returns the data of the rendered piyasa-config (nil if none).
func configData(objs []*unstructured.Unstructured, env app.Environment) map[string]string {
	for _, u := range objs {
		if u.GetKind() == "ConfigMap" && (u.GetName() == env.ConfigMap() || strings.HasSuffix(u.GetName(), app.ConfigMapName)) {
			d, _, _ := unstructured.NestedStringMap(u.Object, "data")
			return d
		}
	}
	return nil
}

// Run applies and waits.
func (o *Options) Run(ctx context.Context) error {
	env, err := loadEnvFile(o.EnvFile, o.Env, configData(o.objs, o.Env)[app.KeyLLMProvider])
	if err != nil {
		return err
	}
	suffix := dryRunSuffix(o.DryRun)
	if o.DryRun == DryRunClient {
		fmt.Fprintf(o.Out, "namespace/%s%s\n", o.Namespace, suffix)
		fmt.Fprintf(o.Out, "secret/%s (%s from %s)%s\n", app.SecretName, plural(len(env.Entries), "key"), o.EnvFile, suffix)
		for _, u := range o.objs {
			fmt.Fprintf(o.Out, "%s/%s%s\n", kindLower(u.GetKind()), u.GetName(), suffix)
		}
		return nil
	}
	c, err := newClients(o.Global)
	if err != nil {
		return err
	}
	// A deploy without --image keeps the images running now (set by `deploy
	// update`), so that re-applying the configuration never swaps versions.
	if o.Image == "" || o.FrontendImage == "" {
		apiImg, feImg, err := liveImages(ctx, c.cs, o.Env, o.Namespace)
		if err != nil {
			return err
		}
		keep := false
		if o.Image == "" && apiImg != "" {
			o.Image, keep = apiImg, true
			o.Infof("keeping the running api/worker image %s (pass --image to change it)\n", apiImg)
		}
		if o.FrontendImage == "" && feImg != "" {
			o.FrontendImage, keep = feImg, true
			o.Infof("keeping the running frontend image %s (pass --frontend-image to change it)\n", feImg)
		}
		if keep {
			if o.objs, err = renderFor(o.Global, o.Manifests, o.Image, o.FrontendImage); err != nil {
				return err
			}
		}
	}
	note, err := keepWorkerCount(ctx, c.cs, o.Env, o.Namespace, o.objs)
	if err != nil {
		return err
	}
	if note != "" {
		o.Infof("%s\n", note)
	}
	o.Infof("Deploying the %s environment into namespace %s%s\n", o.Env.Name, o.Namespace, suffix)
	// The Namespace first (the Secret needs it), then the Secret (the pods
	// need it), then everything else.
	var nsObjs, rest []*unstructured.Unstructured
	for _, u := range o.objs {
		if u.GetKind() == "Namespace" {
			nsObjs = append(nsObjs, u)
		} else {
			rest = append(rest, u)
		}
	}
	if err := applyAll(ctx, c, nsObjs, o.DryRun, o.Out); err != nil {
		return err
	}
	if o.DryRun == DryRunServer {
		if _, err := c.cs.CoreV1().Namespaces().Get(ctx, o.Namespace, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			fmt.Fprintf(o.Out, "namespace/%s would be created%s\n", o.Namespace, suffix)
			o.Infof("A server dry run cannot check objects inside a namespace that does not exist yet: create the namespace, or use --dry-run=client.\n")
			return nil
		}
	}
	if err := ensureNamespace(ctx, c, o.Namespace, o.DryRun); err != nil {
		return err
	}
	configBefore, configExisted, err := liveConfig(ctx, c, o.objs, o.Env)
	if err != nil {
		return err
	}
	change, err := putSecret(ctx, c.cs, secretObject(o.Namespace, env), o.DryRun)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.Out, "secret/%s %s (%s, values not shown)%s\n", app.SecretName, change, plural(len(env.Entries), "key"), suffix)
	if err := applyAll(ctx, c, rest, o.DryRun, o.Out); err != nil {
		return err
	}
	// Pods read piyasa-config and piyasa-secrets when they start: restart the
	// readers of whatever changed (a first deploy starts them fresh anyway).
	configChanged := configExisted && !equalData(configBefore, configData(o.objs, o.Env))
	secretChanged := !change.Created && !change.Empty()
	if configChanged || secretChanged {
		var what []string
		if configChanged {
			what = append(what, app.ConfigMapName)
		}
		if secretChanged {
			what = append(what, app.SecretName)
		}
		readers := readersOf(o.Env, func(c app.Component) bool {
			return (configChanged && c.UsesConfig) || (secretChanged && c.UsesSecret && !c.Stateful)
		})
		if err := restart(ctx, c.cs, o.Namespace, readers, o.Now(), "kubectl piyasa deploy: "+strings.Join(what, ", ")+" changed", o.DryRun); err != nil {
			return err
		}
		for _, w := range readers {
			fmt.Fprintf(o.Out, "%s/%s restarted (%s changed)%s\n", kindLower(w.Kind), w.Name, strings.Join(what, ", "), suffix)
		}
	}
	if o.DryRun != DryRunNone || !o.Wait {
		return nil
	}
	return waitAndReport(ctx, o.Global, workloadsOf(o.objs), o.Timeout)
}

// ensureNamespace creates the namespace when the manifests have none for it.
func ensureNamespace(ctx context.Context, c *clients, ns string, dryRun string) error {
	if dryRun == DryRunServer {
		return nil
	}
	_, err := c.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = c.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
			metav1.CreateOptions{FieldManager: app.FieldManager, DryRun: dryRunOpt(dryRun)})
	}
	return err
}

// applyAll applies objects server-side in order; the Namespace is applied
// before anything else (the Secret needs it).
func applyAll(ctx context.Context, c *clients, objs []*unstructured.Unstructured, dryRun string, out io.Writer) error {
	for _, u := range objs {
		res, err := c.resource(u)
		if err != nil {
			return err
		}
		_, err = res.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: app.FieldManager, Force: true, DryRun: dryRunOpt(dryRun)})
		if err != nil {
			return fmt.Errorf("apply %s/%s: %w", kindLower(u.GetKind()), u.GetName(), err)
		}
		fmt.Fprintf(out, "%s/%s serverside-applied%s\n", kindLower(u.GetKind()), u.GetName(), dryRunSuffix(dryRun))
	}
	return nil
}

// waitAndReport waits for the workloads, then prints the pods and how to
// reach the app.
func waitAndReport(ctx context.Context, g *cli.Global, workloads []kube.Workload, timeout time.Duration) error {
	cs, err := watchClientset(g)
	if err != nil {
		return err
	}
	g.Infof("Waiting for %s (timeout %s)\n", plural(len(workloads), "workload"), timeout)
	w := &Waiter{CS: cs, NS: g.Namespace, Timeout: timeout, Progress: g.ErrOut, Now: g.Now}
	if _, err := w.Wait(ctx, workloads); err != nil {
		return waitErr(ctx, g, err)
	}
	return report(ctx, g)
}

// report prints the app's pods (the guide's "Expected output") and how to
// reach the app.
func report(ctx context.Context, g *cli.Global) error {
	client, err := g.Clientset()
	if err != nil {
		return err
	}
	var sels []labels.Selector
	for _, c := range app.Components {
		sels = append(sels, labels.SelectorFromSet(c.Labels))
	}
	list, err := client.CoreV1().Pods(g.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		for _, s := range sels {
			if s.Matches(labels.Set(p.Labels)) {
				pods = append(pods, p)
				break
			}
		}
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	fmt.Fprintln(g.Out)
	t := output.NewTable(g.Out, "NAME", "READY", "STATUS", "RESTARTS", "AGE")
	for _, r := range podRows(pods, g.Now()) {
		t.Append(r...)
	}
	if err := t.Render(); err != nil {
		return err
	}
	fmt.Fprintln(g.Out)
	fmt.Fprint(g.Out, accessText(g.Env, g.Namespace))
	return nil
}

// accessText says how to reach the app: port-forwards for dev, the Ingress
// hosts for prod (guide, Procedure 1 step 7).
func accessText(env app.Environment, ns string) string {
	var b strings.Builder
	if env.TLS {
		fmt.Fprintf(&b, "The app is served through Ingress %s:\n", env.ObjectName(app.IngressName))
		fmt.Fprintf(&b, "  Frontend: https://%s\n", env.Domain)
		fmt.Fprintf(&b, "  API:      https://api.%s (docs: /docs, health: /healthz)\n", env.Domain)
		return b.String()
	}
	api, _ := app.LookupComponent(app.API)
	fe, _ := app.LookupComponent(app.Frontend)
	b.WriteString("Reach the app with port-forwards:\n")
	fmt.Fprintf(&b, "  kubectl port-forward -n %s svc/%s %d:%d   # API: http://localhost:%d/docs\n", ns, env.ServiceName(api), api.Port, api.Port, api.Port)
	fmt.Fprintf(&b, "  kubectl port-forward -n %s svc/%s %d:%d   # Frontend: http://localhost:%d\n", ns, env.ServiceName(fe), fe.Port, fe.Port, fe.Port)
	return b.String()
}

// liveImages returns the images of the live api and frontend Deployments
// ("" for a missing one, or one not pinned to a version).
func liveImages(ctx context.Context, cs kubernetes.Interface, env app.Environment, ns string) (api, frontend string, err error) {
	for _, x := range []struct {
		comp string
		dst  *string
	}{{app.API, &api}, {app.Frontend, &frontend}} {
		comp, _ := app.LookupComponent(x.comp)
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, env.WorkloadName(comp), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return "", "", err
		}
		// A mutable reference (:latest, no tag) is not kept: the manifests' tag applies.
		if c := containerOf(&d.Spec.Template.Spec, comp.Name); c != nil {
			if _, err := render.ParseImage(comp.Name, c.Image); err == nil {
				*x.dst = c.Image
			}
		}
	}
	return api, frontend, nil
}

// liveConfig returns the data of the live piyasa-config, if it exists.
func liveConfig(ctx context.Context, c *clients, objs []*unstructured.Unstructured, env app.Environment) (map[string]string, bool, error) {
	for _, u := range objs {
		if u.GetKind() != "ConfigMap" || configData([]*unstructured.Unstructured{u}, env) == nil {
			continue
		}
		cm, err := c.cs.CoreV1().ConfigMaps(u.GetNamespace()).Get(ctx, u.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		return cm.Data, true, nil
	}
	return nil, false, nil
}

func equalData(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// NewCmd returns the root command of kubectl-piyasa-deploy.
func NewCmd(g *cli.Global) *cobra.Command {
	root := cli.NewRoot("deploy", g)
	NewCmdDeploy(root, g, g.IOStreams)
	return root
}
