package diagnose

import (
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

func TestCheckWorkers(t *testing.T) {
	workerHPA := func(s *Snapshot) {
		s.HPAs = append(s.HPAs, autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "dev-worker-hpa"},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: app.KindStatefulSet, Name: "dev-worker"}, MaxReplicas: 5}})
	}
	runAreaCases(t, AreaWorkers, []areaCase{
		{name: "TOTAL_WORKERS differs", code: "PIY401", msg: `TOTAL_WORKERS is "5" but StatefulSet dev-worker has 2 replicas`, fix: "kubectl piyasa scale worker 2 -n piyasa-chatbot-dev",
			break_: func(s *Snapshot) { s.ConfigMaps["dev-piyasa-config"][app.KeyTotalWorkers] = "5" }},
		{name: "TOTAL_WORKERS not a number", code: "PIY401", msg: "not a whole number", break_: func(s *Snapshot) { s.ConfigMaps["dev-piyasa-config"][app.KeyTotalWorkers] = "two" }},
		{name: "HPA on the workers", code: "PIY402", fix: "kubectl delete hpa dev-worker-hpa -n piyasa-chatbot-dev", break_: workerHPA},
		// issue 16 #8: under a worker HPA, scale worker is refused: PIY401's fix removes the HPA first
		{name: "TOTAL_WORKERS differs under an HPA", code: "PIY401", fix: "kubectl delete hpa dev-worker-hpa -n piyasa-chatbot-dev; then kubectl piyasa scale worker 2",
			break_: func(s *Snapshot) { workerHPA(s); s.ConfigMaps["dev-piyasa-config"][app.KeyTotalWorkers] = "5" }},
	})
}
