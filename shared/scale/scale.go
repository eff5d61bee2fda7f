package scale

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/table"
)

// Options are the options of `kubectl piyasa scale COMPONENT N`.
type Options struct {
	*cli.Global

	// Force scales even when an HPA targets the component.
	Force bool
	// Wait waits until the component is ready.
	Wait bool
	// Timeout bounds the wait.
	Timeout time.Duration
	// DryRun is the --dry-run strategy (after Complete).
	DryRun cli.DryRun

	args     []string
	comp     app.Component
	replicas int32
}

// NewOptions returns the defaults: wait up to 5 minutes, no dry run.
func NewOptions(g *cli.Global) *Options {
	return &Options{Global: g, Wait: true, Timeout: 5 * time.Minute, DryRun: cli.DryRunNone}
}

// NewCmd returns the root command of kubectl-piyasa-scale: `scale COMPONENT
// N`, with the hpa and status subcommands.
func NewCmd(g *cli.Global) *cobra.Command {
	o := NewOptions(g)
	root := cli.NewRoot("scale", g)
	root.Use = root.Use + " COMPONENT REPLICAS"
	root.Long = rootLong
	root.Example = rootExample
	root.Args = cobra.ArbitraryArgs
	root.ValidArgsFunction = func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return append(scalableNames(), "hpa", "status"), cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	root.RunE = cli.RunE(o)
	root.Flags().BoolVar(&o.Force, "force", false, "Scale even though an HPA targets the component (it may undo the change)")
	root.Flags().BoolVar(&o.Wait, "wait", true, "Wait until the component's pods are ready")
	root.Flags().DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the pods (0: no limit)")
	cli.AddDryRunFlag(root)
	root.AddCommand(NewCmdHPA(g), NewCmdStatus(g))
	flagErr := root.FlagErrorFunc()
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		// "scale api -1" reaches pflag as the shorthand flag -1.
		if m := negativeRE.FindStringSubmatch(err.Error()); m != nil {
			return cli.Usagef("invalid replica count -%s: use a whole number >= 0", m[2])
		}
		return flagErr(c, err)
	})
	return root
}

var negativeRE = regexp.MustCompile(`unknown shorthand flag: '(\d)' in -(\d+)`)

// Complete takes the arguments, resolves the environment and namespace and
// reads --dry-run. It sends no request.
func (o *Options) Complete(cmd *cobra.Command, args []string) error {
	if len(args) != 2 {
		return cli.Usagef("expected COMPONENT REPLICAS (e.g. api 3), got %d argument(s)", len(args)).
			WithHint("see 'kubectl piyasa scale --help'")
	}
	o.args = args
	if err := o.Global.Complete(); err != nil {
		return err
	}
	var err error
	o.DryRun, err = cli.GetDryRun(cmd, o.ErrOut)
	return err
}

// Validate checks the component, the replica count and the flags; it does no I/O.
func (o *Options) Validate() error {
	c, err := scalableComponent(o.args[0], o.Env, o.Namespace)
	if err != nil {
		return err
	}
	o.comp = c
	if o.replicas, err = parseReplicas(o.args[1]); err != nil {
		return err
	}
	if o.Timeout < 0 {
		return cli.Usagef("invalid --timeout %s: use a duration >= 0", o.Timeout)
	}
	if o.comp.Name == app.Worker && o.replicas < 1 {
		return cli.Usagef("invalid worker count %d: run at least 1 worker (TOTAL_WORKERS must be >= 1)", o.replicas)
	}
	return nil
}

// Run scales the component.
func (o *Options) Run(ctx context.Context) error {
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	hpa, err := findHPA(ctx, cs, o.Namespace, o.Env, o.comp)
	if err != nil {
		return err
	}
	if hpa != nil && o.comp.Name == app.Worker && !o.Force {
		// scale hpa worker is refused, so no hint may offer it: the way
		// forward is to delete the HPA, then scale.
		return workersHPAError(fmt.Sprintf("HPA %s autoscales the workers, which the suite does not support", hpa.Name)).
			WithHint("delete the HPA first: kubectl delete hpa %s -n %s; then: kubectl piyasa scale worker %d %s", hpa.Name, o.Namespace, o.replicas, scope(o.Global))
	}
	if hpa != nil {
		min, max := hpaMin(hpa), hpa.Spec.MaxReplicas
		if o.replicas < min || o.replicas > max {
			e := cli.Usagef("%d replicas is outside the range %d-%d of HPA %s, which would change it back at once", o.replicas, min, max, hpa.Name)
			if o.comp.Name == app.Worker {
				return e.WithHint("delete the HPA first: kubectl delete hpa %s -n %s; then: kubectl piyasa scale worker %d %s", hpa.Name, o.Namespace, o.replicas, scope(o.Global))
			}
			return e.WithHint("change the range first: kubectl piyasa scale hpa %s --min N --max M %s", o.comp.Name, scope(o.Global))
		}
		if !o.Force {
			return cli.Usagef("%s is autoscaled by HPA %s (%d-%d replicas): a manual scale would be undone by it", o.comp.Name, hpa.Name, min, max).
				WithHint("tune the HPA instead: kubectl piyasa scale hpa %s --min N --max M %s; or pass --force to scale anyway", o.comp.Name, scope(o.Global))
		}
		o.Infof("warning: HPA %s targets %s and may change the replica count again\n", hpa.Name, o.comp.Name)
	}
	if o.comp.Name == app.Worker {
		return o.runWorker(ctx, cs)
	}
	return o.runDeployment(ctx, cs)
}

func (o *Options) runDeployment(ctx context.Context, cs kubernetes.Interface) error {
	name := o.Env.WorkloadName(o.comp)
	ref := workloadRef(o.Env, o.comp)
	d, err := cs.AppsV1().Deployments(o.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return kube.NotFound(err, ref, o.Namespace)
	}
	before := replicasOf(d.Spec.Replicas)
	if before == o.replicas {
		o.Printf("%s already has %s\n", ref, plural(o.replicas, "replica", "replicas"))
	} else {
		if !o.DryRun.Client() {
			patch := fmt.Sprintf(`{"metadata":{"resourceVersion":%q},"spec":{"replicas":%d}}`, d.ResourceVersion, o.replicas)
			if _, err := cs.AppsV1().Deployments(o.Namespace).Patch(ctx, name, types.MergePatchType, []byte(patch),
				metav1.PatchOptions{FieldManager: app.FieldManager, DryRun: o.DryRun.Server()}); err != nil {
				return err
			}
		}
		o.Printf("%s scaled: %d -> %d replicas%s\n", ref, before, o.replicas, o.DryRun.Suffix())
		if !o.DryRun.Active() {
			recordScaled(ctx, cs, o.Namespace, o.comp.Kind, name, string(d.UID),
				fmt.Sprintf("Scaled from %d to %d replicas by kubectl piyasa scale", before, o.replicas), o.Now())
		}
	}
	if o.DryRun.Active() || !o.Wait {
		return nil
	}
	return o.wait(ctx, cs, kube.Workload{Component: o.comp.Name, Kind: o.comp.Kind, Name: name})
}

// wait waits for the workload's rollout (kube.WaitForWorkloads: kubectl
// rollout status semantics, failing pods stop it) until the surplus pods of a
// scale-down are gone too, and prints progress to ErrOut and the result to Out.
func (o *Options) wait(ctx context.Context, cs kubernetes.Interface, w kube.Workload) error {
	wcs, err := o.Global.WatchClientset()
	if err != nil {
		return err
	}
	statuses, err := kube.WaitForWorkloads(ctx, wcs, o.Namespace, []kube.Workload{w}, kube.WaitOptions{
		Timeout:  o.Timeout,
		FailFast: true,
		Settled:  true,
		OnProgress: func(s kube.WorkloadStatus) {
			if !s.Done && s.Message != "" {
				o.Infof("%s: %s\n", s.Component, s.Message)
			}
		},
	})
	if err != nil {
		return waitError(err, o.Namespace, w)
	}
	ready, desired := statuses[0].Ready, statuses[0].Desired
	o.Printf("%s\n", table.DetectTerminal(o.Out).Green(fmt.Sprintf("%s/%s: %d/%d ready", lower(w.Kind), w.Name, ready, desired)))
	return nil
}

// scope is the -n (and --env, when given) of a command line in a hint, so
// that the command named acts where this one did.
func scope(g *cli.Global) string {
	if g.EnvName != "" {
		return fmt.Sprintf("-n %s --env %s", g.Namespace, g.Env.Name)
	}
	return "-n " + g.Namespace
}

// waitError turns the errors of kube.WaitForWorkloads into exit-1 errors
// with a hint (cli.WaitError).
func waitError(err error, ns string, w kube.Workload) error {
	var te *kube.TimeoutError
	if errors.As(err, &te) && len(te.Pending) == 0 {
		// The timeout ran out before the first LIST answered.
		return cli.Failedf("timed out after %s waiting for %s/%s", te.Timeout, lower(w.Kind), w.Name).WithHint("find out why: kubectl piyasa diagnose -n %s", ns)
	}
	return cli.WaitError(err, ns, fmt.Sprintf("find out why: kubectl piyasa diagnose -n %s", ns))
}

func replicasOf(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func lower(kind string) string {
	switch kind {
	case app.KindDeployment:
		return "deployment"
	case app.KindStatefulSet:
		return "statefulset"
	}
	return kind
}
