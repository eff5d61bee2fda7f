package deploy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// installCRD applies a CustomResourceDefinition of a namespaced kind with a
// status subresource and any fields, waits until it is established, and
// deletes it when the test ends.
func installCRD(t *testing.T, group, kind, plural string) {
	t.Helper()
	name := plural + "." + group
	harness.ApplyYAML(t, "", `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: `+name+`}
spec:
  group: `+group+`
  names: {kind: `+kind+`, listKind: `+kind+`List, plural: `+plural+`, singular: `+strings.ToLower(kind)+`}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {status: {}}
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
`)
	// Waited for, so that the tests after this one see a cluster without it.
	t.Cleanup(func() { harness.Kubectl(t, "delete", "crd", name, "--ignore-not-found", "--timeout", "60s").Run() })
	harness.Kubectl(t, "wait", "--for", "condition=established", "crd/"+name, "--timeout", "60s").RunOK()
}

var gvrCertificates = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}

// TestTLSRenew: with cert-manager's CRD installed and the test playing
// cert-manager (it answers the Issuing condition with a new revision and
// expiry, Ready), `deploy tls renew` waits for the renewed certificate and
// prints its expiry; without cert-manager or the Certificate it refuses.
func TestTLSRenew(t *testing.T) {
	ns := harness.Namespace(t, "deploy-tls")
	r := harness.Piyasa(t, "deploy", "tls", "renew", "--env", "prod", "-n", ns).ExpectCode(1)
	if !strings.Contains(r.Stderr, "error: cert-manager is not installed") || !strings.Contains(r.Stderr, "hint: install cert-manager") {
		t.Errorf("without cert-manager:\n%s", r.Stderr)
	}

	installCRD(t, "cert-manager.io", "Certificate", "certificates")
	harness.ApplyYAML(t, ns, `apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: prod-piyasa-ingress
  annotations: {cert-manager.io/cluster-issuer: letsencrypt-prod}
spec:
  tls:
  - hosts: [piyasa-chatbot.example.com]
    secretName: piyasa-tls-cert
  rules:
  - host: piyasa-chatbot.example.com
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: prod-frontend-service, port: {number: 5173}}}}
`)
	r = harness.Piyasa(t, "deploy", "tls", "renew", "--env", "prod", "-n", ns).ExpectCode(1)
	if !strings.Contains(r.Stderr, "no cert-manager Certificate for secret piyasa-tls-cert in namespace "+ns) {
		t.Errorf("without the Certificate:\n%s", r.Stderr)
	}

	// The Certificate cert-manager's ingress-shim makes from the Ingress, issued once.
	harness.ApplyYAML(t, ns, `apiVersion: cert-manager.io/v1
kind: Certificate
metadata: {name: piyasa-tls-cert}
spec:
  secretName: piyasa-tls-cert
  dnsNames: [piyasa-chatbot.example.com]
  issuerRef: {name: letsencrypt-prod, kind: ClusterIssuer}
`)
	harness.Kubectl(t, "patch", "certificate", "piyasa-tls-cert", "-n", ns, "--subresource=status", "--type=merge", "-p",
		`{"status":{"revision":1,"notAfter":"2026-01-15T00:00:00Z","conditions":[{"type":"Ready","status":"True","reason":"Ready","message":"Certificate is up to date and has not expired","lastTransitionTime":"2025-10-17T00:00:00Z"}]}}`).RunOK()

	played := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	go func() { played <- playCertManager(ctx, t, ns, "piyasa-tls-cert") }()
	r = harness.Piyasa(t, "deploy", "tls", "renew", "--env", "prod", "-n", ns, "--timeout", "2m").RunOK()
	if err := <-played; err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(r.Stdout, "certificate/piyasa-tls-cert renewed: revision 2, expires 2027-04-15T00:00:00Z") ||
		!strings.Contains(r.Stderr, "renewal triggered (was: revision 1, expires 2026-01-15T00:00:00Z)") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", r.Stdout, r.Stderr)
	}
}

// playCertManager does what cert-manager does when a Certificate is marked
// for renewal (Issuing True, reason ManuallyTriggered): it stores revision+1
// with a new expiry, Ready True, and drops the Issuing condition.
func playCertManager(ctx context.Context, t *testing.T, ns, name string) error {
	certs := harness.Dynamic(t).Resource(gvrCertificates).Namespace(ns)
	w, err := certs.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		return err
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		if ev.Type != watch.Added && ev.Type != watch.Modified {
			continue
		}
		u := ev.Object.(*unstructured.Unstructured)
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		triggered := false
		for _, c := range conds {
			m := c.(map[string]any)
			triggered = triggered || (m["type"] == "Issuing" && m["status"] == "True" && m["reason"] == "ManuallyTriggered")
		}
		if !triggered {
			continue
		}
		rev, _, _ := unstructured.NestedInt64(u.Object, "status", "revision")
		_ = unstructured.SetNestedField(u.Object, rev+1, "status", "revision")
		_ = unstructured.SetNestedField(u.Object, "2027-04-15T00:00:00Z", "status", "notAfter")
		_ = unstructured.SetNestedField(u.Object, "2027-03-16T00:00:00Z", "status", "renewalTime")
		_ = unstructured.SetNestedSlice(u.Object, []any{map[string]any{"type": "Ready", "status": "True", "reason": "Ready",
			"message": "Certificate is up to date and has not expired", "lastTransitionTime": time.Now().UTC().Format(time.RFC3339)}}, "status", "conditions")
		_, err := certs.UpdateStatus(ctx, u, metav1.UpdateOptions{})
		return err
	}
	return ctx.Err()
}
