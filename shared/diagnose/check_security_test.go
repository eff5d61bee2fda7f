package diagnose

import "testing"

func TestCheckSecurity(t *testing.T) {
	runAreaCases(t, AreaSecurity, []areaCase{
		{name: "no NetworkPolicy", code: "PIY901", break_: func(s *Snapshot) { s.NetworkPolicies = nil }},
		{name: "not restricted", code: "PIY902", break_: func(s *Snapshot) { s.Deployments[0].Spec.Template.Spec.Containers[0].SecurityContext = nil }},
		{name: "token mounted", code: "PIY903", break_: func(s *Snapshot) {
			s.Deployments[0].Spec.Template.Spec.AutomountServiceAccountToken = nil
			s.ServiceAccounts = map[string]*bool{}
		}},
		{name: "CORS any origin", code: "PIY904", break_: func(s *Snapshot) {
			s.Ingresses[0].Annotations = map[string]string{"nginx.ingress.kubernetes.io/enable-cors": "true", "nginx.ingress.kubernetes.io/cors-allow-origin": "*"}
		}},
		{name: "no PDB", code: "PIY905", break_: func(s *Snapshot) { s.PDBs = s.PDBs[:1] }},
	})
}
