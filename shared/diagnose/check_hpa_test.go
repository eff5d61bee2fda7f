package diagnose

import (
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestCheckHPA(t *testing.T) {
	runAreaCases(t, AreaHPA, []areaCase{
		{name: "no metrics API", code: "PIY410", msg: "metrics-server is not installed", break_: func(s *Snapshot) { s.Metrics = MetricsAPI{} }},
		{name: "no requests", code: "PIY411", break_: func(s *Snapshot) {
			s.Deployments[0].Spec.Template.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
		}},
		{name: "cannot scale", code: "PIY412", break_: func(s *Snapshot) {
			s.HPAs[0].Status.Conditions = []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, Reason: "FailedGetResourceMetric"}}
		}},
		{name: "min above max", code: "PIY413", fix: "kubectl piyasa scale hpa api --min 3 --max 3", break_: func(s *Snapshot) { five := int32(5); s.HPAs[0].Spec.MinReplicas = &five }},
		{name: "target missing", code: "PIY414", break_: func(s *Snapshot) { s.HPAs[0].Spec.ScaleTargetRef.Name = "ghost" }},
		{name: "at max for long", code: "PIY415", break_: func(s *Snapshot) {
			s.HPAs[0].Status.CurrentReplicas = 3
			s.HPAs[0].Status.Conditions = []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.ScalingLimited, Status: corev1.ConditionTrue,
				LastTransitionTime: metav1.NewTime(s.Now.Add(-time.Hour))}}
		}},
	})
}
