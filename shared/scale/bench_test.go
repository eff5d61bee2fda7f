package scale

import (
	"fmt"
	"io"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// BenchmarkBuildStatus measures one redraw of `scale status -w` on a busy
// namespace: 1,000 pods with metrics and 10,000 events.
func BenchmarkBuildStatus(b *testing.B) {
	api, _ := app.LookupComponent(app.API)
	now := time.Now()
	s := snapshot{
		deployments: []*appsv1.Deployment{{ObjectMeta: metav1.ObjectMeta{Name: "dev-api"}, Spec: appsv1.DeploymentSpec{Replicas: i32(1000)}}},
		metrics:     map[string]*metricsv1beta1.PodMetrics{},
	}
	for i := 0; i < 1000; i++ {
		name := fmt.Sprintf("dev-api-%d", i)
		s.pods = append(s.pods, pod(name, api.Labels, "250m"))
		s.metrics[name] = usage(name, "100m", "128Mi")
	}
	for i := 0; i < 10000; i++ {
		s.events = append(s.events, &corev1.Event{InvolvedObject: corev1.ObjectReference{Kind: "Deployment", Name: "dev-api"},
			Reason: "ScalingReplicaSet", LastTimestamp: metav1.NewTime(now.Add(-time.Duration(i) * time.Second))})
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		st := buildStatus(s, dev, "ns", now)
		if err := renderTable(io.Discard, st, true, now); err != nil {
			b.Fatal(err)
		}
	}
}
