package top

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/kube/metricsapi"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/rbac"
)

// Kind is the kind of the `diagnose top -o json|yaml` document.
const Kind = "DiagnoseTop"

// Report is the document of `diagnose top`: CPU and memory per component, per
// pod and per node, against requests and limits. Usage comes from
// metrics.k8s.io; a figure that is missing has its reason in unknown.
type Report struct {
	Namespace   string      `json:"namespace"`
	Environment string      `json:"environment"`
	Time        metav1.Time `json:"time"`
	// MetricsAPI says whether metrics.k8s.io answered for the namespace's pods.
	MetricsAPI kube.MetricsAPI `json:"metricsAPI"`
	Components []Component     `json:"components"`
	Pods       []Pod           `json:"pods"`
	Nodes      []Node          `json:"nodes"`
}

// Figures are a CPU or memory figure: usage (millicores "150m" or
// mebibytes "512Mi"), the sum of the requests and of the limits, and the
// usage in percent of the limit.
type Figures struct {
	Usage          string `json:"usage,omitempty"`
	Request        string `json:"request,omitempty"`
	Limit          string `json:"limit,omitempty"`
	PercentOfLimit *int32 `json:"percentOfLimit,omitempty"`
	// Unknown explains every figure that is missing.
	Unknown string `json:"unknown,omitempty"`
	reasons []string
}

// Component is a component's pods summed. Usage and the percentage are
// over the pods that have metrics; requests and limits over all its pods.
type Component struct {
	Component string  `json:"component"`
	Pods      int     `json:"pods"`
	CPU       Figures `json:"cpu"`
	Memory    Figures `json:"memory"`
}

// Pod is one pod of a component (not finished, not terminating).
type Pod struct {
	Pod       string  `json:"pod"`
	Component string  `json:"component"`
	Node      string  `json:"node,omitempty"`
	Phase     string  `json:"phase"`
	CPU       Figures `json:"cpu"`
	Memory    Figures `json:"memory"`
}

// Node is a node that runs pods of the app: its usage against its
// allocatable capacity (as `kubectl top node`), and the app's share.
type Node struct {
	Node    string      `json:"node"`
	AppPods int         `json:"appPods"`
	CPU     NodeFigures `json:"cpu"`
	Memory  NodeFigures `json:"memory"`
}

// NodeFigures are a node's CPU or memory.
type NodeFigures struct {
	Usage       string `json:"usage,omitempty"`
	Allocatable string `json:"allocatable,omitempty"`
	// Percent is usage in percent of allocatable.
	Percent *int32 `json:"percent,omitempty"`
	// App is the usage of the app's pods on the node (those with metrics).
	App     string `json:"app,omitempty"`
	Unknown string `json:"unknown,omitempty"`
	reasons []string
}

// Options are the flags of `diagnose top`.
type Options struct {
	*cli.Global
	Print *output.Flags
	// metrics is the metrics.k8s.io client; tests set a fake.
	metrics metricsclient.Interface
}

// NeededRights of diagnose top: listing the pods (every other read is
// explained when refused).
func (o *Options) NeededRights(context.Context) (*rbac.Needs, error) {
	return rbac.For("diagnose top").Needs(o.Namespace), nil
}

// NewCmd returns `diagnose top`.
func NewCmd(g *cli.Global) *cobra.Command {
	return newCmd(&Options{Global: g, Print: output.NewFlags()})
}

func newCmd(o *Options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top [-o table|wide|json|yaml]",
		Short: "CPU and memory per component, pod and node, against requests and limits (metrics.k8s.io)",
		Long: `Show the guide's Resource Usage table for the app: CPU and memory per component and per pod
from the metrics API (metrics-server), with the requests, the limits and the usage in percent
of the limit, then the nodes that run the app's pods: their usage in percent of what they can
allocate, and the app's share. Every missing figure is explained under the tables: the metrics
API missing or unavailable, a pod not running or too new to have metrics, a container without
a request or a limit, no right to read nodes.

Exit status: 0 the figures were printed; 1 the metrics API did not answer (the tables say
why); 2 bad flags; 3 the cluster cannot be read or pods may not be listed.`,
		Example: `  kubectl piyasa diagnose top --env prod
  kubectl piyasa diagnose top -o json | jq '.pods[] | select(.memory.percentOfLimit > 90) | .pod'`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	o.Print.AddFlags(cmd)
	return cmd
}

// Complete resolves the environment and namespace.
func (o *Options) Complete(_ *cobra.Command, _ []string) error { return o.Global.Complete() }

// Validate checks -o; it does no I/O.
func (o *Options) Validate() error {
	if err := o.Print.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	return nil
}

// topInput is what the document is computed from: one LIST of each.
type topInput struct {
	pods        []corev1.Pod
	podMetrics  map[string]*metricsv1beta1.PodMetrics
	metricsErr  string
	nodes       map[string]*corev1.Node
	nodesErr    string
	nodeMetrics map[string]*metricsv1beta1.NodeMetrics
	nodeMetErr  string
}

// Run reads pods, nodes and their metrics and prints the document.
func (o *Options) Run(ctx context.Context) error {
	in, err := o.collect(ctx)
	if err != nil {
		return err
	}
	top := buildTop(in, o.Env, o.Namespace, o.Now())
	if o.Print.Structured() {
		err = o.Print.PrintDocument(o.Out, Kind, top)
	} else {
		err = renderTop(o.Out, top, o.Print.IsWide())
	}
	if err != nil {
		return err
	}
	if !top.MetricsAPI.Available {
		return cli.ExitCode(cli.ExitFailed)
	}
	return nil
}

func (o *Options) collect(ctx context.Context) (topInput, error) {
	var in topInput
	cs, err := o.Clientset()
	if err != nil {
		return in, err
	}
	dyn, err := o.Dynamic()
	if err != nil {
		return in, err
	}
	mc := o.metrics
	if mc == nil {
		cfg, err := o.RESTConfig()
		if err != nil {
			return in, err
		}
		if mc, err = metricsapi.MetricsClient(cfg); err != nil {
			return in, err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		l, err := cs.CoreV1().Pods(o.Namespace).List(gctx, metav1.ListOptions{})
		if err != nil {
			return err
		}
		in.pods = l.Items
		return nil
	})
	g.Go(func() error {
		in.podMetrics, in.metricsErr = metricsapi.PodMetrics(gctx, mc, dyn, o.Namespace)
		return nil
	})
	g.Go(func() error {
		l, err := cs.CoreV1().Nodes().List(gctx, metav1.ListOptions{})
		switch {
		case apierrors.IsForbidden(err):
			in.nodesErr = "not allowed to list nodes (RBAC): allocatable unknown"
			return nil
		case err != nil:
			return err
		}
		in.nodes = map[string]*corev1.Node{}
		for i := range l.Items {
			in.nodes[l.Items[i].Name] = &l.Items[i]
		}
		return nil
	})
	g.Go(func() error {
		in.nodeMetrics, in.nodeMetErr = metricsapi.NodeMetrics(gctx, mc, dyn)
		return nil
	})
	return in, g.Wait()
}

var topResources = []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory}

// podSums are a pod's figures for one resource before formatting.
type podSums struct {
	usage, request, limit resource.Quantity
	hasUsage              bool
	noRequest, noLimit    []string // containers
	why                   []string // why usage is missing
}

// buildTop computes the document.
func buildTop(in topInput, env app.Environment, ns string, now time.Time) Report {
	top := Report{Namespace: ns, Environment: env.Name, Time: metav1.NewTime(now.UTC().Truncate(time.Second)),
		MetricsAPI: kube.MetricsAPI{Available: in.metricsErr == "", Message: in.metricsErr},
		Components: []Component{}, Pods: []Pod{}, Nodes: []Node{}}
	type nodeSum struct {
		pods int
		app  map[corev1.ResourceName]*resource.Quantity
	}
	nodes := map[string]*nodeSum{}
	for _, c := range app.Components {
		pods := topPods(in.pods, c)
		sums := make([]map[corev1.ResourceName]podSums, len(pods))
		for i, p := range pods {
			tp := Pod{Pod: p.Name, Component: c.Name, Node: p.Spec.NodeName, Phase: string(p.Status.Phase)}
			sums[i] = map[corev1.ResourceName]podSums{}
			var nsum *nodeSum
			if p.Spec.NodeName != "" {
				if nsum = nodes[p.Spec.NodeName]; nsum == nil {
					nsum = &nodeSum{app: map[corev1.ResourceName]*resource.Quantity{}}
					nodes[p.Spec.NodeName] = nsum
				}
				nsum.pods++
			}
			for _, res := range topResources {
				s := podFigures(p, res, in)
				sums[i][res] = s
				if res == corev1.ResourceCPU {
					tp.CPU = s.figures(res)
				} else {
					tp.Memory = s.figures(res)
				}
				if nsum != nil && s.hasUsage {
					q := nsum.app[res]
					if q == nil {
						q = &resource.Quantity{}
						nsum.app[res] = q
					}
					q.Add(s.usage)
				}
			}
			top.Pods = append(top.Pods, tp)
		}
		tc := Component{Component: c.Name, Pods: len(pods),
			CPU: componentFigures(corev1.ResourceCPU, pods, sums), Memory: componentFigures(corev1.ResourceMemory, pods, sums)}
		top.Components = append(top.Components, tc)
	}
	names := make([]string, 0, len(nodes))
	for n := range nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		sum := nodes[n]
		tn := Node{Node: n, AppPods: sum.pods}
		for _, res := range topResources {
			var f NodeFigures
			var why []string
			if q := sum.app[res]; q != nil {
				f.App = kube.FormatQuantity(res, *q)
			}
			var usage *resource.Quantity
			switch {
			case in.nodeMetErr != "":
				why = append(why, in.nodeMetErr)
			case in.nodeMetrics[n] == nil:
				why = append(why, "no metrics yet for the node ("+kube.NoMetricsYet+")")
			default:
				u := in.nodeMetrics[n].Usage[res]
				usage = &u
				f.Usage = kube.FormatQuantity(res, u)
			}
			var alloc *resource.Quantity
			switch {
			case in.nodesErr != "":
				why = append(why, in.nodesErr)
			case in.nodes[n] == nil:
				why = append(why, "node not found")
			default:
				if a, ok := in.nodes[n].Status.Allocatable[res]; ok {
					alloc = &a
					f.Allocatable = kube.FormatQuantity(res, a)
				} else {
					why = append(why, fmt.Sprintf("the node reports no allocatable %s", res))
				}
			}
			if usage != nil && alloc != nil {
				f.Percent = percent(*usage, *alloc)
			}
			f.reasons, f.Unknown = why, strings.Join(why, "; ")
			if res == corev1.ResourceCPU {
				tn.CPU = f
			} else {
				tn.Memory = f
			}
		}
		top.Nodes = append(top.Nodes, tn)
	}
	return top
}

// topPods returns the component's pods that count: not finished, not terminating.
func topPods(all []corev1.Pod, c app.Component) []*corev1.Pod {
	sel := labels.SelectorFromSet(c.Labels)
	var pods []*corev1.Pod
	for i := range all {
		p := &all[i]
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed || !sel.Matches(labels.Set(p.Labels)) {
			continue
		}
		pods = append(pods, p)
	}
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	return pods
}

// componentFigures sums the pods' figures of res: usage and the percentage
// of the limit over the pods with metrics, requests and limits over all.
func componentFigures(res corev1.ResourceName, pods []*corev1.Pod, sums []map[corev1.ResourceName]podSums) Figures {
	var f Figures
	if len(pods) == 0 {
		f.reasons = []string{"no running pods"}
		f.Unknown = f.reasons[0]
		return f
	}
	var usage, request, limit, usedLimit resource.Quantity
	var noRequest, noLimit, noMetrics, reasons, why []string
	for i, p := range pods {
		s := sums[i][res]
		request.Add(s.request)
		limit.Add(s.limit)
		noRequest = append(noRequest, s.noRequest...)
		noLimit = append(noLimit, s.noLimit...)
		if !s.hasUsage {
			noMetrics = append(noMetrics, p.Name)
			for _, r := range s.why {
				if !slices.Contains(reasons, r) {
					reasons = append(reasons, r)
				}
			}
			continue
		}
		usage.Add(s.usage)
		usedLimit.Add(s.limit)
	}
	withMetrics := len(pods) - len(noMetrics)
	switch {
	case withMetrics == 0:
		why = append(why, reasons...)
	case len(noMetrics) > 0:
		f.Usage = kube.FormatQuantity(res, usage)
		why = append(why, fmt.Sprintf("usage of %d of %d pods: %s for %s", withMetrics, len(pods), strings.Join(reasons, "; "), listNames(noMetrics)))
	default:
		f.Usage = kube.FormatQuantity(res, usage)
	}
	if len(noRequest) == 0 {
		f.Request = kube.FormatQuantity(res, request)
	}
	if len(noLimit) == 0 {
		f.Limit = kube.FormatQuantity(res, limit)
		if withMetrics > 0 {
			f.PercentOfLimit = percent(usage, usedLimit)
		}
	}
	why = append(why, resourceGaps(res, noRequest, noLimit)...)
	f.reasons, f.Unknown = why, strings.Join(why, "; ")
	return f
}

// podFigures sums a pod's requests and limits of res over its containers and
// takes its usage from the metrics, saying why it has none.
func podFigures(p *corev1.Pod, res corev1.ResourceName, in topInput) podSums {
	var s podSums
	for _, c := range p.Spec.Containers {
		if q, ok := c.Resources.Requests[res]; ok && !q.IsZero() {
			s.request.Add(q)
		} else {
			s.noRequest = append(s.noRequest, p.Name+"/"+c.Name)
		}
		if q, ok := c.Resources.Limits[res]; ok && !q.IsZero() {
			s.limit.Add(q)
		} else {
			s.noLimit = append(s.noLimit, p.Name+"/"+c.Name)
		}
	}
	m := in.podMetrics[p.Name]
	switch {
	case in.metricsErr != "":
		s.why = append(s.why, in.metricsErr)
	case p.Status.Phase != corev1.PodRunning:
		s.why = append(s.why, fmt.Sprintf("pod is %s, not running", p.Status.Phase))
	case m == nil:
		s.why = append(s.why, "no metrics yet ("+kube.NoMetricsYet+")")
	default:
		s.hasUsage = true
		for _, c := range m.Containers {
			s.usage.Add(c.Usage[res])
		}
	}
	return s
}

// figures formats a pod's sums.
func (s podSums) figures(res corev1.ResourceName) Figures {
	var f Figures
	why := append([]string(nil), s.why...)
	if s.hasUsage {
		f.Usage = kube.FormatQuantity(res, s.usage)
	}
	if len(s.noRequest) == 0 {
		f.Request = kube.FormatQuantity(res, s.request)
	}
	if len(s.noLimit) == 0 {
		f.Limit = kube.FormatQuantity(res, s.limit)
		if s.hasUsage {
			f.PercentOfLimit = percent(s.usage, s.limit)
		}
	}
	why = append(why, resourceGaps(res, s.noRequest, s.noLimit)...)
	f.reasons, f.Unknown = why, strings.Join(why, "; ")
	return f
}

// resourceGaps explains the containers (pod/container) without a request
// or a limit of res; the same container gives the same words for its pod
// and its component.
func resourceGaps(res corev1.ResourceName, noRequest, noLimit []string) []string {
	var both, reqOnly, limOnly []string
	for _, c := range noRequest {
		if slices.Contains(noLimit, c) {
			both = append(both, c)
		} else {
			reqOnly = append(reqOnly, c)
		}
	}
	for _, c := range noLimit {
		if !slices.Contains(noRequest, c) {
			limOnly = append(limOnly, c)
		}
	}
	var out []string
	if len(both) > 0 {
		out = append(out, fmt.Sprintf("container %s has no %s request or limit, so there is no percentage of the limit", listNames(both), res))
	}
	if len(reqOnly) > 0 {
		out = append(out, fmt.Sprintf("container %s has no %s request", listNames(reqOnly), res))
	}
	if len(limOnly) > 0 {
		out = append(out, fmt.Sprintf("container %s has no %s limit, so there is no percentage of the limit", listNames(limOnly), res))
	}
	return out
}

func percent(usage, of resource.Quantity) *int32 {
	if of.IsZero() {
		return nil
	}
	p := int32(usage.MilliValue() * 100 / of.MilliValue())
	return &p
}

func listNames(names []string) string {
	if len(names) > 3 {
		return strings.Join(names[:3], ", ") + fmt.Sprintf(" and %d more", len(names)-3)
	}
	return strings.Join(names, ", ")
}
