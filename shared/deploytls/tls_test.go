package deploytls

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

var prodNS = app.Environments["prod"].Namespace

const devNS = "piyasa-chatbot-dev"

// run executes `kubectl piyasa deploy tls renew ARGS` on the fake Global:
// the deploy binary's root with the tls group under it.
func run(tt *clitest.T, args ...string) error {
	root := cli.NewRoot("deploy", tt.Global)
	root.AddCommand(NewCmd(tt.Global))
	root.SetArgs(append([]string{"tls", "renew"}, args...))
	return root.ExecuteContext(context.Background())
}

// code is the exit code the binary would give for err.
func code(err error) int {
	if err == nil {
		return 0
	}
	return cli.Classify(err, "").Code
}

// cliError returns err as the suite's error type (nil if it is not one).
func cliError(err error) *cli.Error {
	var e *cli.Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

func certificate(name, secret string, revision int64, notAfter string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": certManagerGroupVersion, "kind": "Certificate",
		"metadata": map[string]any{"name": name, "namespace": prodNS},
		"spec":     map[string]any{"secretName": secret, "dnsNames": []any{"piyasa-chatbot.example.com"}},
		"status": map[string]any{"revision": revision, "notAfter": notAfter,
			"conditions": []any{map[string]any{"type": "Ready", "status": "True", "reason": "Ready", "message": "Certificate is up to date and has not expired"}}},
	}}
	return u
}

// tlsT is a prod Global whose discovery serves cert-manager (when crd) and
// whose dynamic fake holds the Certificates.
func tlsT(t *testing.T, crd bool, certs ...runtime.Object) *clitest.T {
	t.Helper()
	tt := clitest.New(prodNS)
	if crd {
		tt.Fake.Resources = append(tt.Fake.Resources, &metav1.APIResourceList{GroupVersion: certManagerGroupVersion,
			APIResources: []metav1.APIResource{{Name: "certificates", Kind: "Certificate", Namespaced: true}}})
	}
	tt.FakeDynamic = dynamicfake.NewSimpleDynamicClientWithCustomListKinds(scheme.Scheme,
		map[schema.GroupVersionResource]string{gvrCertificates: "CertificateList"}, certs...)
	tt.Global.DynamicClient = tt.FakeDynamic
	return tt
}

func TestTLSRenewRefuses(t *testing.T) {
	tt := tlsT(t, false)
	err := run(tt)
	if e := cliError(err); e == nil || e.Code != 1 || !strings.Contains(e.Msg, "cert-manager is not installed") {
		t.Errorf("no cert-manager: %v", err)
	}
	tt = tlsT(t, true, certificate("other", "other-tls", 1, "2027-01-01T00:00:00Z"))
	err = run(tt)
	if e := cliError(err); e == nil || e.Code != 1 || !strings.Contains(e.Msg, "no cert-manager Certificate for secret piyasa-tls-cert") {
		t.Errorf("no Certificate: %v", err)
	}
	tt = tlsT(t, true)
	err = run(tt, "nope")
	if e := cliError(err); e == nil || e.Code != 1 || !strings.Contains(e.Msg, "certificate nope not found") {
		t.Errorf("named Certificate missing: %v", err)
	}
	if err := run(tlsT(t, true), "--timeout", "-1s"); code(err) != 2 {
		t.Errorf("--timeout -1s: %v", err)
	}
}

// playCertManager waits for renew's Issuing condition and answers as
// cert-manager does: a new revision and expiry, Ready, Issuing gone; or,
// with fail, Issuing False with reason Failed.
func playCertManager(t *testing.T, tt *clitest.T, name string, fail bool) <-chan error {
	done := make(chan error, 1)
	go func() {
		certs := tt.FakeDynamic.Resource(gvrCertificates).Namespace(prodNS)
		for i := 0; i < 2000; i++ {
			u, err := certs.Get(context.Background(), name, metav1.GetOptions{})
			if err != nil {
				done <- err
				return
			}
			if st := readCert(u); st.issuing && st.issuingReason == certReasonManual {
				conds := []any{map[string]any{"type": "Ready", "status": "True", "reason": "Ready", "message": "Certificate is up to date and has not expired"}}
				if fail {
					conds = append(conds, map[string]any{"type": "Issuing", "status": "False", "reason": "Failed", "message": "The certificate request has failed to complete and will be retried: ACME order failed"})
				} else {
					_ = unstructured.SetNestedField(u.Object, st.revision+1, "status", "revision")
					_ = unstructured.SetNestedField(u.Object, "2027-03-01T00:00:00Z", "status", "notAfter")
				}
				_ = unstructured.SetNestedSlice(u.Object, conds, "status", "conditions")
				_, err = certs.UpdateStatus(context.Background(), u, metav1.UpdateOptions{})
				done <- err
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		done <- context.DeadlineExceeded
	}()
	return done
}

func TestTLSRenew(t *testing.T) {
	tt := tlsT(t, true, certificate(app.TLSSecretName, app.TLSSecretName, 3, "2026-12-10T00:00:00Z"))
	done := playCertManager(t, tt, app.TLSSecretName, false)
	if err := run(tt, "--timeout", "1m"); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	stdout, stderr := tt.Output()
	if !strings.Contains(stdout, "certificate/piyasa-tls-cert renewed: revision 4, expires 2027-03-01T00:00:00Z") ||
		!strings.Contains(stderr, "renewal triggered (was: revision 3, expires 2026-12-10T00:00:00Z)") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}

	// cert-manager reports the issuance failed: exit 1 with its message.
	tt = tlsT(t, true, certificate(app.TLSSecretName, app.TLSSecretName, 3, "2026-12-10T00:00:00Z"))
	done = playCertManager(t, tt, app.TLSSecretName, true)
	err := run(tt, "--timeout", "1m")
	if e := cliError(err); e == nil || e.Code != 1 || !strings.Contains(e.Msg, "ACME order failed") {
		t.Errorf("failed issuance: %v", err)
	}
	<-done
}

// TestTLSRenewSaysWhatToDo: a dev Ingress without TLS is said to serve no
// TLS (not "cert-manager is not installed"); without cert-manager the hint
// gives the manual path for the Ingress's Secret.
func TestTLSRenewSaysWhatToDo(t *testing.T) {
	devEnv := app.Environments["dev"]
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: devEnv.ObjectName(app.IngressName), Namespace: devNS}}
	tt := clitest.New(devNS, ing)
	err := run(tt)
	if e := cliError(err); e == nil || e.Code != 1 || !strings.Contains(e.Msg, "serves no TLS") || strings.Contains(e.Msg, "cert-manager") ||
		!strings.Contains(e.Hint, "--env prod") {
		t.Errorf("dev Ingress without TLS: %v", err)
	}
	tt = tlsT(t, false)
	err = run(tt)
	want := "kubectl create secret tls piyasa-tls-cert --cert CERT.pem --key KEY.pem -n " + prodNS + " --dry-run=client -o yaml | kubectl apply -f -"
	if e := cliError(err); e == nil || !strings.Contains(e.Msg, "cert-manager is not installed") || !strings.Contains(e.Hint, want) {
		t.Errorf("no cert-manager: %v (hint %q)", err, e.Hint)
	}
}
