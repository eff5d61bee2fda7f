package diagnose

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestCheckIngress(t *testing.T) {
	tls := func(s *Snapshot) {
		s.Ingresses[0].Spec.TLS = []networkingv1.IngressTLS{{SecretName: "piyasa-tls"}}
	}
	runAreaCases(t, AreaIngress, []areaCase{
		{name: "no IngressClass", code: "PIY501", break_: func(s *Snapshot) { s.IngressClasses = nil }},
		{name: "class matches none", code: "PIY502", break_: func(s *Snapshot) { other := "traefik"; s.Ingresses[0].Spec.IngressClassName = &other }},
		{name: "backend port missing", code: "PIY503", msg: "has no port 9999", break_: func(s *Snapshot) {
			s.Ingresses[0].Spec.Rules[0].HTTP.Paths[1].Backend.Service.Port.Number = 9999
		}},
		// issue 16 #9: without cert-manager the fix must not be kubectl describe certificate
		{name: "TLS secret missing, no cert-manager", code: "PIY504", fix: "cert-manager is not installed", break_: tls},
		{name: "TLS secret missing with cert-manager", code: "PIY504", fix: "kubectl describe certificate", break_: func(s *Snapshot) { tls(s); s.CertManager = true }},
		{name: "expired", code: "PIY505", fix: "kubectl create secret tls piyasa-tls", break_: func(s *Snapshot) {
			tls(s)
			s.Secrets["piyasa-tls"] = SecretInfo{Type: corev1.SecretTypeTLS, CertNotAfter: s.Now.Add(-time.Hour)}
		}},
		{name: "expires soon", code: "PIY506", break_: func(s *Snapshot) {
			tls(s)
			s.Secrets["piyasa-tls"] = SecretInfo{Type: corev1.SecretTypeTLS, CertNotAfter: s.Now.Add(72 * time.Hour)}
		}},
		{name: "Certificate not Ready", code: "PIY507", break_: func(s *Snapshot) {
			s.CertManager = true
			s.Certificates = []unstructured.Unstructured{{Object: map[string]any{"metadata": map[string]any{"name": "c"}}}}
		}},
	})
	for _, c := range Codes {
		if c.Area == AreaIngress && c.ID != "PIY507" && strings.HasPrefix(c.Fix, "kubectl describe certificate") {
			t.Errorf("%s's default fix needs cert-manager: %s", c.ID, c.Fix)
		}
	}
}
