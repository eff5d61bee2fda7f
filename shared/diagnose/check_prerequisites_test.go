package diagnose

import "testing"

func TestCheckPrerequisites(t *testing.T) {
	runAreaCases(t, AreaPrerequisites, []areaCase{
		{name: "old server", code: "PIY801", break_: func(s *Snapshot) { s.ServerVersion, s.ServerMinor = "v1.23.4", 23 }},
		{name: "no ingress-nginx", code: "PIY802", break_: func(s *Snapshot) { s.IngressClasses[0].Spec.Controller = "traefik.io/ingress-controller" }},
		{name: "no metrics-server", code: "PIY803", break_: func(s *Snapshot) { s.Metrics = MetricsAPI{} }},
		{name: "TLS without cert-manager", code: "PIY804", break_: func(s *Snapshot) { s.Env.TLS = true }},
		{name: "small cluster", code: "PIY805", break_: func(s *Snapshot) { s.Nodes = s.Nodes[:1] }},
	})
}
