package scale

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

var dev = app.Environments["dev"]

func i32(v int32) *int32 { return &v }

func pod(name string, lbl map[string]string, cpuReq string) *corev1.Pod {
	c := corev1.Container{Name: "main"}
	if cpuReq != "" {
		c.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpuReq), corev1.ResourceMemory: resource.MustParse("256Mi")}
	}
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: lbl}, Spec: corev1.PodSpec{Containers: []corev1.Container{c}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
}

func usage(name, cpu, mem string) *metricsv1beta1.PodMetrics {
	return &metricsv1beta1.PodMetrics{ObjectMeta: metav1.ObjectMeta{Name: name}, Containers: []metricsv1beta1.ContainerMetrics{
		{Name: "main", Usage: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}}}}
}

func TestBuildStatus(t *testing.T) {
	api, _ := app.LookupComponent(app.API)
	worker, _ := app.LookupComponent(app.Worker)
	frontend, _ := app.LookupComponent(app.Frontend)
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s := snapshot{
		deployments: []*appsv1.Deployment{
			{ObjectMeta: metav1.ObjectMeta{Name: "dev-api"}, Spec: appsv1.DeploymentSpec{Replicas: i32(2)}, Status: appsv1.DeploymentStatus{ReadyReplicas: 2}},
			{ObjectMeta: metav1.ObjectMeta{Name: "dev-frontend"}, Spec: appsv1.DeploymentSpec{Replicas: i32(1)}, Status: appsv1.DeploymentStatus{ReadyReplicas: 1}},
		},
		statefulsets: []*appsv1.StatefulSet{{ObjectMeta: metav1.ObjectMeta{Name: "dev-worker"}, Spec: appsv1.StatefulSetSpec{Replicas: i32(3)}}},
		hpas: []*autoscalingv2.HorizontalPodAutoscaler{{
			ObjectMeta: metav1.ObjectMeta{Name: "dev-api-hpa"},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "dev-api"},
				MinReplicas:    i32(1), MaxReplicas: 10,
				Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: i32(70)}}}},
			},
		}, {
			ObjectMeta: metav1.ObjectMeta{Name: "legacy-worker-hpa"},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "StatefulSet", Name: "dev-worker"}, MaxReplicas: 12,
			},
			Status: autoscalingv2.HorizontalPodAutoscalerStatus{Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{
				{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, Reason: "FailedGetResourceMetric", Message: "missing request for cpu"}}},
		}},
		pods: []*corev1.Pod{
			pod("dev-api-a", api.Labels, "250m"), pod("dev-api-b", api.Labels, "250m"),
			pod("dev-worker-0", worker.Labels, ""),
			pod("dev-frontend-a", frontend.Labels, "100m"),
		},
		events: []*corev1.Event{
			{InvolvedObject: corev1.ObjectReference{Kind: "Deployment", Name: "dev-api"}, Reason: "ScalingReplicaSet", Message: "Scaled up replica set dev-api-1 from 1 to 2",
				LastTimestamp: metav1.NewTime(now.Add(-5 * time.Minute))},
			{InvolvedObject: corev1.ObjectReference{Kind: "HorizontalPodAutoscaler", Name: "dev-api-hpa"}, Reason: "SuccessfulRescale", Message: "New size: 2; reason: cpu resource utilization (percentage of request) above target",
				LastTimestamp: metav1.NewTime(now.Add(-2 * time.Minute))},
			{InvolvedObject: corev1.ObjectReference{Kind: "Deployment", Name: "dev-api"}, Reason: "Unhealthy", LastTimestamp: metav1.NewTime(now)},
		},
		configMap: &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dev-piyasa-config"}, Data: map[string]string{app.KeyTotalWorkers: "2"}},
		metrics: map[string]*metricsv1beta1.PodMetrics{
			"dev-api-a": usage("dev-api-a", "100m", "128Mi"), "dev-api-b": usage("dev-api-b", "150m", "128Mi"),
			"dev-worker-0": usage("dev-worker-0", "10m", "10Mi"),
		},
	}
	st := buildStatus(s, dev, "ns", now)
	if len(st.Components) != 3 {
		t.Fatalf("components %v", st.Components)
	}
	a := st.Components[0]
	if a.Component != "api" || a.Desired != 2 || a.Current != 2 || a.HPA == nil || a.HPA.MaxReplicas != 10 {
		t.Errorf("api %+v", a)
	}
	if a.CPU.Utilization == nil || *a.CPU.Utilization != 50 || a.CPU.Usage != "250m" || a.CPU.Request != "500m" || *a.CPU.Target != 70 || a.CPU.Unknown != "" {
		t.Errorf("api cpu %+v", a.CPU)
	}
	if a.LastScale == nil || a.LastScale.Reason != "SuccessfulRescale" || a.LastScale.Object != "horizontalpodautoscaler/dev-api-hpa" {
		t.Errorf("api last scale %+v", a.LastScale)
	}
	w := st.Components[1]
	if w.TotalWorkers == nil || *w.TotalWorkers != 2 {
		t.Errorf("worker totalWorkers %v", w.TotalWorkers)
	}
	if w.CPU.Utilization != nil || !strings.Contains(w.CPU.Unknown, "dev-worker-0/main has no cpu request") || !strings.Contains(w.CPU.Unknown, "ScalingActive=False") {
		t.Errorf("worker cpu %+v", w.CPU)
	}
	f := st.Components[2]
	if f.CPU.Utilization != nil || !strings.Contains(f.CPU.Unknown, "no metrics yet for dev-frontend-a") {
		t.Errorf("frontend cpu %+v", f.CPU)
	}
	probs := strings.Join(st.Problems, "\n")
	for _, want := range []string{`TOTAL_WORKERS is "2" but StatefulSet dev-worker has 3 replicas`, "HPA legacy-worker-hpa scales StatefulSet dev-worker", "kubectl delete hpa legacy-worker-hpa -n ns"} {
		if !strings.Contains(probs, want) {
			t.Errorf("problems %q lack %q", probs, want)
		}
	}

	var b strings.Builder
	if err := renderTable(&b, st, false, now); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"50%/70%", "2m ago SuccessfulRescale", "<unknown> frontend cpu, frontend memory: no metrics yet", "problem: TOTAL_WORKERS is"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestMetricsUnavailable(t *testing.T) {
	s := snapshot{metricsErr: "the metrics API is not installed"}
	api, _ := app.LookupComponent(app.API)
	s.pods = []*corev1.Pod{pod("dev-api-a", api.Labels, "250m")}
	st := buildStatus(s, dev, "ns", time.Now())
	if st.MetricsAPI.Available || st.Components[0].CPU.Unknown != "the metrics API is not installed" {
		t.Errorf("%+v %+v", st.MetricsAPI, st.Components[0].CPU)
	}
}

func TestCapacityWarnings(t *testing.T) {
	node := corev1.Node{Status: corev1.NodeStatus{
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourceMemory: resource.MustParse("8Gi")},
		Conditions:  []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
	}}
	unready := node
	unready.Status.Conditions = nil
	spec := corev1.PodSpec{Containers: []corev1.Container{{Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
		corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("512Mi")}}}}}
	if w := capacityWarnings(spec, []corev1.Node{node, unready}, 8); len(w) != 0 {
		t.Errorf("8 x 500m fits 4 CPUs: %v", w)
	}
	w := capacityWarnings(spec, []corev1.Node{node, unready}, 9)
	if len(w) != 1 || !strings.Contains(w[0], "--max 9 x 500m cpu requests = 4500m exceeds") {
		t.Errorf("9 x 500m > 4 CPUs: %v", w)
	}
}

func TestParseReplicas(t *testing.T) {
	for in, ok := range map[string]bool{"0": true, "3": true, "-1": false, "x": false, "1.5": false, "99999999999": false} {
		if _, err := parseReplicas(in); (err == nil) != ok {
			t.Errorf("parseReplicas(%q) err=%v", in, err)
		}
	}
}

func TestHPAChanges(t *testing.T) {
	a := &autoscalingv2.HorizontalPodAutoscaler{Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: i32(1), MaxReplicas: 10}}
	setUtilization(a, corev1.ResourceCPU, 70)
	b := a.DeepCopy()
	b.Spec.MaxReplicas = 5
	setUtilization(b, corev1.ResourceCPU, 60)
	setUtilization(b, corev1.ResourceMemory, 80)
	got := strings.Join(hpaChanges(a, b), ", ")
	if got != "max 10 -> 5, cpu target 70% -> 60%, memory target none -> 80%" || len(b.Spec.Metrics) != 2 {
		t.Errorf("changes %q, metrics %d", got, len(b.Spec.Metrics))
	}
}
