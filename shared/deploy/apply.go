package deploy

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/dynamic"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/envfile"
	"github.com/piyasa/kubectl-piyasa/shared/fleet"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/render"
)

// Options of `kubectl piyasa deploy`: the guide's Procedure 1.
type Options struct {
	*cli.Global

	EnvFile       string
	Manifests     string
	Image         string
	FrontendImage string
	DryRun        cli.DryRun
	// Fleet is a fleet file: deploy every region (fleet.go).
	Fleet string
	waitFlags
	monitoringFlag

	objs []*unstructured.Unstructured
	env  *envfile.File
	fl   fleetRun
}

// NewOptions returns the defaults.
func NewOptions(g *cli.Global) *Options {
	return &Options{Global: g, EnvFile: ".env", DryRun: cli.DryRunNone, waitFlags: defaultWait()}
}

// AddFlags adds deploy's flags to cmd (the root of kubectl-piyasa-deploy).
func (o *Options) AddFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.EnvFile, "env-file", o.EnvFile, "The .env file that becomes Secret piyasa-secrets")
	addManifestsFlag(cmd, &o.Manifests)
	f.StringVar(&o.Image, "image", "", "Image of api and worker: a TAG (v2.0.0) or a full IMAGE reference; default: the running image, else the manifests' tag")
	f.StringVar(&o.FrontendImage, "frontend-image", "", "Image of the frontend: a TAG or a full IMAGE reference; default: the running image, else the manifests' tag")
	f.StringVar(&o.Fleet, "fleet", "", "Deploy every region of this fleet file ("+fleet.DefaultFile+"): the primary first, then the standbys in wave order, with --env-file and the images given")
	_ = cmd.MarkFlagFilename("fleet", "yaml", "yml")
	cli.AddDryRunFlag(cmd)
	o.waitFlags.add(cmd)
	o.monitoringFlag.add(cmd)
}

// Complete resolves the environment and namespace, renders the manifests and
// reads the .env: every input is read before the first request.
func (o *Options) Complete(cmd *cobra.Command, _ []string) error {
	if o.Fleet != "" {
		return o.completeFleet(cmd)
	}
	if err := o.Global.Complete(); err != nil {
		return err
	}
	var err error
	if o.DryRun, err = completeDryRun(cmd, o.Global); err != nil {
		return err
	}
	if o.objs, err = renderFor(o.Global, o.Manifests, o.Image, o.FrontendImage); err != nil {
		return err
	}
	if err := o.monitoringFlag.complete(o.Global); err != nil {
		return err
	}
	o.env, err = readEnvFile(o.EnvFile)
	return err
}

// Validate checks the flags and the .env (no I/O).
func (o *Options) Validate() error {
	if o.Fleet != "" {
		return o.validateFleet()
	}
	if err := o.waitFlags.validate(); err != nil {
		return err
	}
	if err := o.monitoringFlag.validate(); err != nil {
		return err
	}
	return validateEnvFile(o.env, o.Env, configData(o.objs, o.Env)[app.KeyLLMProvider])
}

// Run plans, applies and waits.
func (o *Options) Run(ctx context.Context) error {
	if o.Fleet != "" {
		return o.runFleet(ctx)
	}
	suffix := o.DryRun.Suffix()
	if o.DryRun.Client() {
		fmt.Fprintf(o.Out, "namespace/%s%s\n", o.Namespace, suffix)
		fmt.Fprintf(o.Out, "secret/%s (%s from %s)%s\n", app.SecretName, cli.Plural(len(o.env.Entries), "key", "keys"), o.EnvFile, suffix)
		shown := o.objs
		if o.Monitoring == MonitoringOn {
			shown = append(append([]*unstructured.Unstructured{}, o.objs...), o.monObjs...)
			render.SortForApply(shown)
		}
		for _, u := range shown {
			fmt.Fprintf(o.Out, "%s/%s%s\n", kindLower(u.GetKind()), u.GetName(), suffix)
		}
		if o.Monitoring == MonitoringAuto {
			o.Infof("monitoring: the ServiceMonitor is applied only where the cluster serves %s (not checked by a client dry run)\n", monitoringGroupVersion)
		}
		return nil
	}
	c, err := newClients(o.Global)
	if err != nil {
		return err
	}
	objs := o.objs
	withMon, monNote, err := o.monitoringFlag.decide(ctx, o.Global, c)
	if err != nil {
		return err
	}
	if withMon {
		objs = append(append([]*unstructured.Unstructured{}, o.objs...), o.monObjs...)
		render.SortForApply(objs)
	}
	p, err := planDeploy(ctx, o.Global, c, planInput{objs: objs, image: o.Image, frontendImage: o.FrontendImage, secret: secretObject(o.Namespace, o.env)})
	if err != nil {
		return err
	}
	for _, line := range p.keeps {
		o.Infof("%s\n", line)
	}
	for _, r := range p.reverts {
		o.Infof("reverting %s\n", r)
	}
	if len(p.reverts) > 0 {
		o.Infof("(deploy applies the manifests' values: changes made with config set or scale hpa last until the next deploy)\n")
	}
	o.Infof("Deploying the %s environment into namespace %s%s\n", o.Env.Name, o.Namespace, suffix)
	o.Infof("%s\n", monNote)
	// The Namespace first (the Secret needs it), then the Secret (the pods
	// need it), then everything else (render.SortForApply keeps that order).
	var nsObjs, rest []*unstructured.Unstructured
	for _, u := range p.objs {
		if u.GetKind() == "Namespace" {
			nsObjs = append(nsObjs, u)
		} else {
			rest = append(rest, u)
		}
	}
	a := &applier{c: c, ns: o.Namespace, dryRun: o.DryRun, out: o.Out, total: len(p.objs) + 1}
	if err := a.apply(ctx, nsObjs); err != nil {
		return err
	}
	if o.DryRun == cli.DryRunServer && !p.nsExists {
		fmt.Fprintf(o.Out, "namespace/%s would be created%s\n", o.Namespace, suffix)
		o.Infof("A server dry run cannot check objects inside a namespace that does not exist yet: create the namespace, or use --dry-run=client.\n")
		return nil
	}
	if err := ensureNamespace(ctx, c, o.Namespace, o.DryRun); err != nil {
		return a.failed(ctx, err)
	}
	if err := applySecret(ctx, c.cs, *p.secret, o.DryRun); err != nil {
		return a.failed(ctx, err)
	}
	a.applied++
	fmt.Fprintf(o.Out, "secret/%s %s (%s, values not shown)%s\n", app.SecretName, p.secret.change, cli.Plural(len(o.env.Entries), "key", "keys"), suffix)
	if err := a.apply(ctx, rest); err != nil {
		return err
	}
	if len(p.restart) > 0 {
		if err := restart(ctx, c.cs, o.Namespace, p.restart, o.Now(), "kubectl piyasa deploy: "+p.why()+" changed", o.DryRun); err != nil {
			return err
		}
		for _, w := range p.restart {
			fmt.Fprintf(o.Out, "%s/%s restarted (%s changed)%s\n", kindLower(w.Kind), w.Name, p.why(), suffix)
		}
	}
	if o.DryRun.Active() || !o.Wait {
		return nil
	}
	return waitAndReport(ctx, o.Global, workloadsOf(p.objs), o.Timeout)
}

// ensureNamespace creates the namespace when the manifests have none for it.
func ensureNamespace(ctx context.Context, c *clients, ns string, dryRun cli.DryRun) error {
	if dryRun == cli.DryRunServer {
		return nil
	}
	_, err := c.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = c.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
			metav1.CreateOptions{FieldManager: app.FieldManager, DryRun: dryRun.Server()})
	}
	return err
}

// applier applies objects server-side in the order given and counts them, so
// that an interrupted deploy can say how far it got.
type applier struct {
	c              *clients
	ns             string
	dryRun         cli.DryRun
	out            io.Writer
	applied, total int
}

func (a *applier) apply(ctx context.Context, objs []*unstructured.Unstructured) error {
	for _, u := range objs {
		if ctx.Err() != nil {
			return a.failed(ctx, ctx.Err())
		}
		res, err := a.c.resource(u)
		if err != nil {
			return err
		}
		before := a.postgresTemplate(ctx, res, u)
		applied, err := res.Apply(ctx, u.GetName(), u, metav1.ApplyOptions{FieldManager: app.FieldManager, Force: true, DryRun: a.dryRun.Server()})
		if err != nil {
			return a.failed(ctx, fmt.Errorf("apply %s/%s: %w", kindLower(u.GetKind()), u.GetName(), err))
		}
		a.applied++
		fmt.Fprintf(a.out, "%s/%s serverside-applied%s\n", kindLower(u.GetKind()), u.GetName(), a.dryRun.Suffix())
		if before != nil && !equality.Semantic.DeepEqual(before, podTemplate(applied)) {
			fmt.Fprintf(a.out, "%s/%s: its pod template changed, so PostgreSQL restarts%s: the database is down until the new pod is ready (Recreate), the app reconnects\n",
				kindLower(u.GetKind()), u.GetName(), a.dryRun.Suffix())
		}
	}
	return nil
}

// postgresTemplate is the live pod template of the postgres Deployment u
// before it is applied (nil for any other object, or when it does not exist
// yet): a changed template restarts PostgreSQL, which deploy says plainly.
func (a *applier) postgresTemplate(ctx context.Context, res dynamic.ResourceInterface, u *unstructured.Unstructured) map[string]any {
	if u.GetKind() != app.KindDeployment || workloadComponent(u) != app.Postgres {
		return nil
	}
	live, err := res.Get(ctx, u.GetName(), metav1.GetOptions{})
	if err != nil {
		return nil
	}
	return podTemplate(live)
}

// podTemplate is a workload's spec.template (nil when it has none).
func podTemplate(u *unstructured.Unstructured) map[string]any {
	if u == nil {
		return nil
	}
	t, _, _ := unstructured.NestedMap(u.Object, "spec", "template")
	return t
}

// failed explains an apply that stopped: Ctrl-C says how far it got and how
// to finish; a namespace being deleted says so.
func (a *applier) failed(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return &cli.Error{Code: cli.ExitInterrupted,
			Msg:  fmt.Sprintf("interrupted after applying %d of %d objects: what was applied stays applied", a.applied, a.total),
			Hint: "run the same deploy again to finish it (applying is idempotent)"}
	}
	if kube.NamespaceTerminating(err) {
		return kube.TerminatingError(a.ns)
	}
	return err
}
