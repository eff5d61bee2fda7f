package access

import (
	"context"
	"errors"
	"strings"
	"testing"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

const devNS = "piyasa-chatbot-dev"

// run executes `kubectl piyasa deploy access ARGS` on the fake Global: the
// deploy binary's root with access under it.
func run(tt *clitest.T, args ...string) error {
	root := cli.NewRoot("deploy", tt.Global)
	root.AddCommand(NewCmd(tt.Global))
	root.SetArgs(append([]string{"access"}, args...))
	return root.ExecuteContext(context.Background())
}

// code is the exit code the binary would give for err.
func code(err error) int {
	if err == nil {
		return 0
	}
	return cli.Classify(err, "").Code
}

func TestAccessBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--api-port", "70000"},
		{"--frontend-port", "-1"},
		{"--api-port", "9000", "--frontend-port", "9000"},
		{"--address", "my-host"},
	} {
		tt := clitest.New(devNS)
		if err := run(tt, args...); code(err) != 2 {
			t.Errorf("%v: exit %d (%v)", args, code(err), err)
		}
		if n := len(tt.Fake.Actions()); n != 0 {
			t.Errorf("%v: %d requests before the flags were checked", args, n)
		}
	}
}

func TestAccessMissingService(t *testing.T) {
	tt := clitest.New(devNS)
	err := run(tt, "--api-port", "0", "--frontend-port", "0")
	if code(err) != 1 || !strings.Contains(err.Error(), "service dev-api-service not found in namespace "+devNS) {
		t.Errorf("exit %d: %v", code(err), err)
	}
}

// In prod, access prints the Ingress's hosts (https where TLS covers them).
func TestAccessProdPrintsIngress(t *testing.T) {
	prod := app.Environments["prod"]
	pathType := networkingv1.PathTypePrefix
	rule := func(host, svc string) networkingv1.IngressRule {
		return networkingv1.IngressRule{Host: host, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
			Paths: []networkingv1.HTTPIngressPath{{Path: "/", PathType: &pathType, Backend: networkingv1.IngressBackend{
				Service: &networkingv1.IngressServiceBackend{Name: svc}}}}}}}
	}
	ing := &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "prod-piyasa-ingress", Namespace: prod.Namespace},
		Spec: networkingv1.IngressSpec{
			TLS:   []networkingv1.IngressTLS{{Hosts: []string{"api.piyasa-chatbot.example.com", "piyasa-chatbot.example.com"}, SecretName: app.TLSSecretName}},
			Rules: []networkingv1.IngressRule{rule("api.piyasa-chatbot.example.com", "prod-api-service"), rule("piyasa-chatbot.example.com", "prod-frontend-service")}}}
	tt := clitest.New(prod.Namespace, ing)
	if err := run(tt); err != nil {
		t.Fatal(err)
	}
	stdout, _ := tt.Output()
	if !strings.Contains(stdout, "api:      https://api.piyasa-chatbot.example.com/docs\n") || !strings.Contains(stdout, "frontend: https://piyasa-chatbot.example.com\n") {
		t.Errorf("stdout:\n%s", stdout)
	}
	// No Ingress: exit 1 with the way to port-forward.
	tt = clitest.New(prod.Namespace)
	err := run(tt)
	var e *cli.Error
	if !errors.As(err, &e) || e.Code != 1 || !strings.Contains(e.Msg, "ingress prod-piyasa-ingress not found") || !strings.Contains(e.Hint, "access --port-forward") {
		t.Errorf("no Ingress: %+v", e)
	}
}
