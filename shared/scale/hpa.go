package scale

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// HPAOptions are the options of `kubectl piyasa scale hpa COMPONENT`.
type HPAOptions struct {
	*cli.Global

	Min, Max    int32
	CPU, Memory int32
	// DryRun is the --dry-run strategy (after Complete).
	DryRun cli.DryRun

	arg  string
	set  map[string]bool
	comp app.Component
}

// NewHPAOptions returns the defaults.
func NewHPAOptions(g *cli.Global) *HPAOptions {
	return &HPAOptions{Global: g, DryRun: cli.DryRunNone, set: map[string]bool{}}
}

// NewCmdHPA returns `scale hpa COMPONENT [--min N] [--max N] [--cpu PCT] [--memory PCT]`.
func NewCmdHPA(g *cli.Global) *cobra.Command {
	o := NewHPAOptions(g)
	cmd := &cobra.Command{
		Use:   "hpa COMPONENT [--min N] [--max N] [--cpu PCT] [--memory PCT]",
		Short: "Change the replica range and utilization targets of a component's HorizontalPodAutoscaler",
		Long: `Change the replica range and CPU/memory utilization targets of the HPA that targets a
component's workload (api or frontend). Checks 1 <= min <= max, targets 1-100 %, and warns
when max x the pod's requests exceeds what the schedulable nodes can hold.
The workers have no HPA by design: scale them with 'kubectl piyasa scale worker N'.`,
		Example: `  kubectl piyasa scale hpa api --min 2 --max 8 --cpu 60
  kubectl piyasa scale hpa frontend --memory 70 --dry-run=server`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return []string{app.API, app.Frontend}, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: cli.RunE(o),
	}
	cmd.Flags().Int32Var(&o.Min, "min", 0, "Minimum replicas (>= 1)")
	cmd.Flags().Int32Var(&o.Max, "max", 0, "Maximum replicas (>= min)")
	cmd.Flags().Int32Var(&o.CPU, "cpu", 0, "Target average CPU utilization, percent of requests (1-100)")
	cmd.Flags().Int32Var(&o.Memory, "memory", 0, "Target average memory utilization, percent of requests (1-100)")
	cli.AddDryRunFlag(cmd)
	return cmd
}

// Complete takes the argument and which flags were given, resolves the
// environment and namespace and reads --dry-run. It sends no request.
func (o *HPAOptions) Complete(cmd *cobra.Command, args []string) error {
	if len(args) != 1 {
		return cli.Usagef("expected one COMPONENT (api or frontend), got %d argument(s)", len(args))
	}
	o.arg = args[0]
	for _, f := range []string{"min", "max", "cpu", "memory"} {
		o.set[f] = cmd.Flags().Changed(f)
	}
	if err := o.Global.Complete(); err != nil {
		return err
	}
	var err error
	o.DryRun, err = cli.GetDryRun(cmd, o.ErrOut)
	return err
}

// Validate checks the component and the flags on their own (no I/O); Run
// checks them against the HPA.
func (o *HPAOptions) Validate() error {
	if o.arg == app.Worker {
		return workersHPAError("the workers are never autoscaled by an HPA").
			WithHint("scale the workers with: kubectl piyasa scale worker N %s (it sets TOTAL_WORKERS and the replicas together)", scope(o.Global))
	}
	c, err := scalableComponent(o.arg, o.Env, o.Namespace)
	if err != nil {
		return err
	}
	o.comp = c
	if !o.set["min"] && !o.set["max"] && !o.set["cpu"] && !o.set["memory"] {
		return cli.Usagef("nothing to change: give at least one of --min, --max, --cpu, --memory")
	}
	if o.set["min"] && o.Min < 1 {
		return cli.Usagef("invalid --min %d: use 1 or more", o.Min)
	}
	if o.set["max"] && o.Max < 1 {
		return cli.Usagef("invalid --max %d: use 1 or more", o.Max)
	}
	if o.set["min"] && o.set["max"] && o.Min > o.Max {
		return cli.Usagef("invalid range: --min %d is above --max %d", o.Min, o.Max)
	}
	for _, f := range []struct {
		name string
		v    int32
	}{{"cpu", o.CPU}, {"memory", o.Memory}} {
		if o.set[f.name] && (f.v < 1 || f.v > 100) {
			return cli.Usagef("invalid --%s %d: use a percentage from 1 to 100", f.name, f.v)
		}
	}
	return nil
}

// Run patches the HPA.
func (o *HPAOptions) Run(ctx context.Context) error {
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	h, err := findHPA(ctx, cs, o.Namespace, o.Env, o.comp)
	if err != nil {
		return err
	}
	if h == nil {
		return cli.Failedf("no HorizontalPodAutoscaler targets %s in namespace %s", workloadRef(o.Env, o.comp), o.Namespace).
			WithHint("the suite's manifests create %s: deploy them with kubectl piyasa deploy", o.Env.ObjectName(o.comp.HPA))
	}
	before := h.DeepCopy()
	if o.set["min"] {
		h.Spec.MinReplicas = &o.Min
	}
	if o.set["max"] {
		h.Spec.MaxReplicas = o.Max
	}
	if min := hpaMin(h); min > h.Spec.MaxReplicas {
		return cli.Usagef("invalid range: min %d would be above max %d of HPA %s", min, h.Spec.MaxReplicas, h.Name).
			WithHint("give both: --min %d --max %d", min, max(min, h.Spec.MaxReplicas))
	}
	if o.set["cpu"] {
		setUtilization(h, corev1.ResourceCPU, o.CPU)
	}
	if o.set["memory"] {
		setUtilization(h, corev1.ResourceMemory, o.Memory)
	}
	changes := hpaChanges(before, h)
	if len(changes) == 0 {
		o.Printf("horizontalpodautoscaler/%s unchanged\n", h.Name)
		return nil
	}
	if o.set["max"] {
		o.checkCapacity(ctx, cs, h.Spec.MaxReplicas)
	}
	if !o.DryRun.Client() {
		if _, err := cs.AutoscalingV2().HorizontalPodAutoscalers(o.Namespace).Update(ctx, h,
			metav1.UpdateOptions{FieldManager: app.FieldManager, DryRun: o.DryRun.Server()}); err != nil {
			if apierrors.IsConflict(err) {
				return cli.Failedf("horizontalpodautoscaler/%s was changed by someone else while this command changed it; nothing was changed", h.Name).
					WithHint("look at it again (kubectl piyasa scale status -n %s), then run the command again", o.Namespace)
			}
			return err
		}
	}
	o.Printf("horizontalpodautoscaler/%s: %s%s\n", h.Name, strings.Join(changes, ", "), o.DryRun.Suffix())
	return nil
}

// setUtilization sets (or adds) the Resource metric's average utilization target.
func setUtilization(h *autoscalingv2.HorizontalPodAutoscaler, res corev1.ResourceName, pct int32) {
	for i, m := range h.Spec.Metrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == res {
			h.Spec.Metrics[i].Resource.Target = autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &pct}
			return
		}
	}
	h.Spec.Metrics = append(h.Spec.Metrics, autoscalingv2.MetricSpec{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{Name: res,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &pct}},
	})
}

// targetUtilization returns the HPA's utilization target for a resource (nil: none).
func targetUtilization(h *autoscalingv2.HorizontalPodAutoscaler, res corev1.ResourceName) *int32 {
	for _, m := range h.Spec.Metrics {
		if m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil && m.Resource.Name == res &&
			m.Resource.Target.Type == autoscalingv2.UtilizationMetricType {
			return m.Resource.Target.AverageUtilization
		}
	}
	return nil
}

func hpaChanges(a, b *autoscalingv2.HorizontalPodAutoscaler) []string {
	var out []string
	if x, y := hpaMin(a), hpaMin(b); x != y {
		out = append(out, fmt.Sprintf("min %d -> %d", x, y))
	}
	if x, y := a.Spec.MaxReplicas, b.Spec.MaxReplicas; x != y {
		out = append(out, fmt.Sprintf("max %d -> %d", x, y))
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		x, y := pct(targetUtilization(a, r)), pct(targetUtilization(b, r))
		if x != y {
			out = append(out, fmt.Sprintf("%s target %s -> %s", r, x, y))
		}
	}
	return out
}

func pct(p *int32) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprintf("%d%%", *p)
}

// checkCapacity warns when max pods' requests exceed the allocatable CPU or
// memory of the schedulable, ready nodes. It never blocks the change.
func (o *HPAOptions) checkCapacity(ctx context.Context, cs kubernetes.Interface, maxReplicas int32) {
	var spec corev1.PodSpec
	name := o.Env.WorkloadName(o.comp)
	switch o.comp.Kind {
	case app.KindDeployment:
		d, err := cs.AppsV1().Deployments(o.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			o.Infof("note: cannot check node capacity: %s\n", cli.Classify(err, "").Msg)
			return
		}
		spec = d.Spec.Template.Spec
	case app.KindStatefulSet:
		s, err := cs.AppsV1().StatefulSets(o.Namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			o.Infof("note: cannot check node capacity: %s\n", cli.Classify(err, "").Msg)
			return
		}
		spec = s.Spec.Template.Spec
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		o.Infof("note: cannot check node capacity: %s\n", cli.Classify(err, "").Msg)
		return
	}
	for _, w := range capacityWarnings(spec, nodes.Items, maxReplicas) {
		o.Infof("warning: %s\n", w)
	}
}

// capacityWarnings compares max x the pod's requests with the allocatable
// resources of the ready, schedulable nodes.
func capacityWarnings(spec corev1.PodSpec, nodes []corev1.Node, maxReplicas int32) []string {
	alloc := corev1.ResourceList{}
	for _, n := range nodes {
		if n.Spec.Unschedulable || !nodeReady(n) {
			continue
		}
		for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
			q := alloc[r]
			q.Add(n.Status.Allocatable[r])
			alloc[r] = q
		}
	}
	var out []string
	req := podRequests(spec)
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		per, ok := req[r]
		if !ok || per.IsZero() {
			continue
		}
		total := per.DeepCopy()
		total.Mul(int64(maxReplicas))
		a := alloc[r]
		if total.Cmp(a) > 0 {
			out = append(out, fmt.Sprintf("--max %d x %s %s requests = %s exceeds the %s allocatable on the schedulable nodes (%s): pods above that stay Pending",
				maxReplicas, per.String(), r, total.String(), r, a.String()))
		}
	}
	return out
}

func podRequests(spec corev1.PodSpec) corev1.ResourceList {
	out := corev1.ResourceList{}
	for _, c := range spec.Containers {
		for r, q := range c.Resources.Requests {
			sum := out[r]
			sum.Add(q)
			out[r] = sum
		}
	}
	return out
}

func nodeReady(n corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
