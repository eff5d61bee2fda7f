package diagnose

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestCheckImages(t *testing.T) {
	runAreaCases(t, AreaImages, []areaCase{
		{name: "latest", code: "PIY701", break_: func(s *Snapshot) {
			s.Deployments[1].Spec.Template.Spec.Containers[0].Image = "ghcr.io/x/frontend:latest"
		}},
		{name: "api and worker differ", code: "PIY702", break_: func(s *Snapshot) { s.StatefulSets[0].Spec.Template.Spec.Containers[0].Image = "ghcr.io/x/api:v1.1.0" }},
		{name: "readiness on /healthz", code: "PIY703", break_: func(s *Snapshot) {
			s.Deployments[0].Spec.Template.Spec.Containers[0].ReadinessProbe.HTTPGet.Path = "/healthz"
		}},
		{name: "no liveness", code: "PIY704", break_: func(s *Snapshot) { s.Deployments[1].Spec.Template.Spec.Containers[0].LivenessProbe = nil }},
		{name: "no requests", code: "PIY705", break_: func(s *Snapshot) {
			s.Deployments[1].Spec.Template.Spec.Containers[0].Resources = corev1.ResourceRequirements{}
		}},
	})
}
