package scale

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// StatusKind is the kind of the `scale status -o json|yaml` document.
const StatusKind = "ScaleStatus"

// Status is the document printed by `scale status -o json|yaml`.
type Status struct {
	Namespace   string            `json:"namespace"`
	Environment string            `json:"environment"`
	Time        metav1.Time       `json:"time"`
	MetricsAPI  MetricsAPI        `json:"metricsAPI"`
	Components  []ComponentStatus `json:"components"`
	// Problems are findings that need action (e.g. TOTAL_WORKERS != worker replicas).
	Problems []string `json:"problems,omitempty"`
	// RestoreInterrupted is set while a restore that did not finish has the app stopped.
	RestoreInterrupted *kube.RestoreLeft `json:"restoreInterrupted,omitempty"`
}

// MetricsAPI says whether metrics.k8s.io answered: the suite's one type.
type MetricsAPI = kube.MetricsAPI

// ComponentStatus is one scalable component. Component, Kind and Workload
// mean what they mean in every status document of the suite (deploy status
// too): the app's component (api, worker, frontend), the kind of its workload
// (Deployment, StatefulSet) and the workload's object name (dev-api).
type ComponentStatus struct {
	Component string `json:"component"`
	Kind      string `json:"kind"`
	Workload  string `json:"workload"`
	Found     bool   `json:"found"`
	// Desired is spec.replicas; Current counts the pods; Ready and Updated are from the status.
	Desired int32 `json:"desired"`
	Current int32 `json:"current"`
	Ready   int32 `json:"ready"`
	Updated int32 `json:"updated"`
	// TotalWorkers is TOTAL_WORKERS from the ConfigMap (worker only; absent when unset).
	TotalWorkers *int32         `json:"totalWorkers,omitempty"`
	HPA          *HPAStatus     `json:"hpa,omitempty"`
	CPU          ResourceStatus `json:"cpu"`
	Memory       ResourceStatus `json:"memory"`
	LastScale    *ScaleEvent    `json:"lastScale,omitempty"`
}

// HPAStatus is the HPA that targets a component.
type HPAStatus struct {
	Name            string         `json:"name"`
	MinReplicas     int32          `json:"minReplicas"`
	MaxReplicas     int32          `json:"maxReplicas"`
	CurrentReplicas int32          `json:"currentReplicas"`
	DesiredReplicas int32          `json:"desiredReplicas"`
	Conditions      []HPACondition `json:"conditions,omitempty"`
}

// HPACondition is one condition of an HPA (AbleToScale, ScalingActive, ScalingLimited).
type HPACondition struct {
	Type    string `json:"type"`
	Status  string `json:"status"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// ResourceStatus is a component's CPU or memory use against its requests and target.
type ResourceStatus struct {
	// Usage is the sum over the pods with metrics (e.g. "120m", "300Mi").
	Usage string `json:"usage,omitempty"`
	// Request is the sum of the same pods' requests.
	Request string `json:"request,omitempty"`
	// Utilization is usage / requests in percent, as the HPA computes it; absent when unknown.
	Utilization *int32 `json:"utilization,omitempty"`
	// Target is the HPA's average utilization target in percent.
	Target *int32 `json:"target,omitempty"`
	// Unknown explains why utilization is <unknown>.
	Unknown string `json:"unknown,omitempty"`
}

// ScaleEvent is the latest scaling event of a component.
type ScaleEvent struct {
	Time    metav1.Time `json:"time"`
	Object  string      `json:"object"`
	Reason  string      `json:"reason"`
	Message string      `json:"message"`
}

// snapshot is the state status is computed from: one LIST per kind (or an
// informer's cache of the same).
type snapshot struct {
	deployments  []*appsv1.Deployment
	statefulsets []*appsv1.StatefulSet
	hpas         []*autoscalingv2.HorizontalPodAutoscaler
	pods         []*corev1.Pod
	events       []*corev1.Event
	configMap    *corev1.ConfigMap
	metrics      map[string]*metricsv1beta1.PodMetrics // by pod name
	metricsErr   string                                // why metrics.k8s.io gave nothing ("" when it answered)
}

// buildStatus computes the status document.
func buildStatus(s snapshot, env app.Environment, ns string, now time.Time) Status {
	st := Status{Namespace: ns, Environment: env.Name, Time: metav1.NewTime(now.UTC().Truncate(time.Second)),
		MetricsAPI: MetricsAPI{Available: s.metricsErr == "", Message: s.metricsErr}, Components: []ComponentStatus{}}
	var marks []kube.RestoreMark
	for _, d := range s.deployments {
		marks = append(marks, kube.RestoreMark{Component: app.ComponentNameForLabels(d.Spec.Template.Labels), Kind: app.KindDeployment, Name: d.Name, Replicas: replicasOf(d.Spec.Replicas), Annotations: d.Annotations})
	}
	for _, d := range s.statefulsets {
		marks = append(marks, kube.RestoreMark{Component: app.ComponentNameForLabels(d.Spec.Template.Labels), Kind: app.KindStatefulSet, Name: d.Name, Replicas: replicasOf(d.Spec.Replicas), Annotations: d.Annotations})
	}
	if left, ok := kube.InterruptedRestore(marks, ns); ok {
		st.RestoreInterrupted = &left
	}
	for _, c := range app.Components {
		if !c.Scalable {
			continue
		}
		cs := ComponentStatus{Component: c.Name, Kind: c.Kind, Workload: env.WorkloadName(c)}
		switch c.Kind {
		case app.KindDeployment:
			for _, d := range s.deployments {
				if d.Name == cs.Workload {
					cs.Found, cs.Desired = true, replicasOf(d.Spec.Replicas)
					cs.Ready, cs.Updated = d.Status.ReadyReplicas, d.Status.UpdatedReplicas
				}
			}
		case app.KindStatefulSet:
			for _, d := range s.statefulsets {
				if d.Name == cs.Workload {
					cs.Found, cs.Desired = true, replicasOf(d.Spec.Replicas)
					cs.Ready, cs.Updated = d.Status.ReadyReplicas, d.Status.UpdatedReplicas
				}
			}
		}
		pods := componentPods(s.pods, c)
		cs.Current = int32(len(pods))
		var h *autoscalingv2.HorizontalPodAutoscaler
		for _, x := range s.hpas {
			if x.Spec.ScaleTargetRef.Name == cs.Workload && x.Spec.ScaleTargetRef.Kind == c.Kind {
				h = x
			}
		}
		if h != nil {
			cs.HPA = hpaStatus(h)
		}
		cs.CPU = resourceStatus(corev1.ResourceCPU, pods, s, h)
		cs.Memory = resourceStatus(corev1.ResourceMemory, pods, s, h)
		hpaName := ""
		if h != nil {
			hpaName = h.Name
		}
		cs.LastScale = lastScale(s.events, c.Kind, cs.Workload, hpaName)
		if c.Name == app.Worker {
			total, hasTotal := "", false
			if s.configMap != nil {
				total, hasTotal = s.configMap.Data[app.KeyTotalWorkers]
				if n, err := strconv.ParseInt(strings.TrimSpace(total), 10, 32); hasTotal && err == nil {
					n32 := int32(n)
					cs.TotalWorkers = &n32
				}
			}
			// Without the StatefulSet only the HPA can be wrong ("not found" follows).
			for _, p := range app.WorkerSharding(total, hasTotal && cs.Found, cs.Workload, cs.Desired, hpaName, ns) {
				if left := st.RestoreInterrupted; left != nil && p.Issue != app.ShardingHPA {
					// the restore stopped them and brings back the recorded count: no scale of the workers
					msg := fmt.Sprintf("StatefulSet %s has %d replicas: stopped by a restore that did not finish", cs.Workload, cs.Desired)
					if n, ok := left.Replicas[app.Worker]; ok {
						msg += fmt.Sprintf(", which brings back %d", n)
					}
					p = app.ShardingProblem{Issue: p.Issue, Message: msg, Fix: left.Hint()}
				}
				st.Problems = append(st.Problems, problemText(p))
			}
		}
		if !cs.Found {
			st.Problems = append(st.Problems, fmt.Sprintf("%s/%s not found", lower(c.Kind), cs.Workload))
		}
		st.Components = append(st.Components, cs)
	}
	return st
}

// problemText is a sharding problem as one line of the document: the fact,
// then the fix when there is one.
func problemText(p app.ShardingProblem) string {
	if p.Fix == "" {
		return p.Message
	}
	return p.Message + "; fix: " + p.Fix
}

// componentPods returns the component's pods that count: not terminating, not finished.
func componentPods(pods []*corev1.Pod, c app.Component) []*corev1.Pod {
	sel := labels.SelectorFromSet(c.Labels)
	var out []*corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		if sel.Matches(labels.Set(p.Labels)) {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func hpaStatus(h *autoscalingv2.HorizontalPodAutoscaler) *HPAStatus {
	hs := &HPAStatus{Name: h.Name, MinReplicas: hpaMin(h), MaxReplicas: h.Spec.MaxReplicas,
		CurrentReplicas: h.Status.CurrentReplicas, DesiredReplicas: h.Status.DesiredReplicas}
	for _, c := range h.Status.Conditions {
		hs.Conditions = append(hs.Conditions, HPACondition{Type: string(c.Type), Status: string(c.Status), Reason: c.Reason, Message: c.Message})
	}
	return hs
}

// resourceStatus computes usage / requests over the component's pods the way
// the HPA does, and says why it is unknown when it is.
func resourceStatus(res corev1.ResourceName, pods []*corev1.Pod, s snapshot, h *autoscalingv2.HorizontalPodAutoscaler) (rs ResourceStatus) {
	if h != nil {
		rs.Target = targetUtilization(h, res)
	}
	var why []string
	defer func() {
		if rs.Utilization == nil && h != nil {
			if c := hpaCondition(h, autoscalingv2.ScalingActive); c != nil && c.Status == corev1.ConditionFalse {
				why = append(why, fmt.Sprintf("HPA %s: ScalingActive=False (%s): %s", h.Name, c.Reason, c.Message))
			}
		}
		rs.Unknown = strings.Join(why, "; ")
	}()
	switch {
	case s.metricsErr != "":
		why = append(why, s.metricsErr)
		return rs
	case len(pods) == 0:
		why = append(why, "no running pods")
		return rs
	}
	var usage, request resource.Quantity
	var noRequest, noMetrics []string
	for _, p := range pods {
		m := s.metrics[p.Name]
		for _, c := range p.Spec.Containers {
			q, ok := c.Resources.Requests[res]
			if !ok || q.IsZero() {
				noRequest = append(noRequest, fmt.Sprintf("%s/%s", p.Name, c.Name))
				continue
			}
			if m != nil {
				request.Add(q)
			}
		}
		if m == nil {
			noMetrics = append(noMetrics, p.Name)
			continue
		}
		for _, c := range m.Containers {
			usage.Add(c.Usage[res])
		}
	}
	withMetrics := len(pods) - len(noMetrics)
	if withMetrics > 0 {
		rs.Usage = formatQuantity(res, usage)
	}
	if len(noRequest) > 0 {
		why = append(why, fmt.Sprintf("container %s has no %s request, so utilization (percent of requests) cannot be computed; set resources.requests.%s", listNames(noRequest), res, res))
	}
	if len(noMetrics) > 0 {
		why = append(why, fmt.Sprintf("no metrics yet for %s (%s)", listNames(noMetrics), kube.NoMetricsYet))
	}
	if len(noRequest) > 0 {
		return rs
	}
	if withMetrics == 0 {
		return rs
	}
	rs.Request = formatQuantity(res, request)
	if request.IsZero() {
		return rs
	}
	u := int32(usage.MilliValue() * 100 / request.MilliValue())
	rs.Utilization = &u
	why = nil // known: partial pods without metrics are only skipped, as the HPA does
	return rs
}

func hpaCondition(h *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType) *autoscalingv2.HorizontalPodAutoscalerCondition {
	for i := range h.Status.Conditions {
		if h.Status.Conditions[i].Type == t {
			return &h.Status.Conditions[i]
		}
	}
	return nil
}

func listNames(names []string) string {
	if len(names) > 3 {
		return strings.Join(names[:3], ", ") + fmt.Sprintf(" and %d more", len(names)-3)
	}
	return strings.Join(names, ", ")
}

// formatQuantity prints CPU in millicores and memory in Mi, as kubectl top does.
func formatQuantity(res corev1.ResourceName, q resource.Quantity) string {
	return kube.FormatQuantity(res, q)
}

// Events that record a change of replicas, by the kind of object they are about.
var scaleReasons = map[string]map[string]bool{
	"HorizontalPodAutoscaler": {"SuccessfulRescale": true, "FailedRescale": true},
	app.KindDeployment:        {"ScalingReplicaSet": true, ScaledReason: true},
	app.KindStatefulSet:       {ScaledReason: true},
}

// podEvents are a StatefulSet's pod creations and deletions: a scale, but also
// every rolling restart, so they count only when no better event exists.
var podEvents = map[string]bool{"SuccessfulCreate": true, "SuccessfulDelete": true}

// lastScale returns the latest scaling event of the workload or its HPA.
func lastScale(events []*corev1.Event, kind, name, hpa string) *ScaleEvent {
	var best, fallback *corev1.Event
	var bestT, fallbackT time.Time
	for _, e := range events {
		o := e.InvolvedObject
		match := (o.Kind == kind && o.Name == name) || (hpa != "" && o.Kind == "HorizontalPodAutoscaler" && o.Name == hpa)
		if !match {
			continue
		}
		t := kube.EventTime(*e).Time
		switch {
		case scaleReasons[o.Kind][e.Reason]:
			if best == nil || !t.Before(bestT) {
				best, bestT = e, t
			}
		case o.Kind == app.KindStatefulSet && podEvents[e.Reason]:
			if fallback == nil || !t.Before(fallbackT) {
				fallback, fallbackT = e, t
			}
		}
	}
	if best == nil {
		best, bestT = fallback, fallbackT
	}
	if best == nil {
		return nil
	}
	return &ScaleEvent{Time: metav1.NewTime(bestT), Object: strings.ToLower(best.InvolvedObject.Kind) + "/" + best.InvolvedObject.Name,
		Reason: best.Reason, Message: strings.TrimSpace(best.Message)}
}
