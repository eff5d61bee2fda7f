package deploy_test

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// An unreachable cluster: exit 3, one line that names the server, no value
// of the .env in the output.
func TestDeployUnreachableCluster(t *testing.T) {
	envFile := newEnvFile(t, ".env")
	r := harness.Piyasa(t, "deploy", "--env", "dev", "--env-file", envFile,
		"--server", "https://127.0.0.1:1", "--insecure-skip-tls-verify", "--request-timeout", "2s").ExpectCode(3)
	if lines := strings.Split(strings.TrimSpace(r.Stderr), "\n"); len(lines) > 2 || !strings.Contains(r.Stderr, "cannot reach the cluster at https://127.0.0.1:1") {
		t.Errorf("stderr:\n%s", r.Stderr)
	}
	noLeak(t, r, envFile)
}

// A user who may only read the namespace: deploy stops before its first write
// with exit 3, names the missing rights, and leaves no Secret behind.
func TestDeployForbidden(t *testing.T) {
	ns := harness.Namespace(t, "deploy-rbac")
	harness.ApplyYAML(t, ns, `
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: viewer}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: piyasa-viewer}]
`)
	envFile := newEnvFile(t, ".env")
	r := harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", envFile, "--as", "piyasa-viewer").ExpectCode(3)
	if !strings.Contains(r.Stderr, "error: missing RBAC rights for deploy in namespace "+ns+": ") || !strings.Contains(r.Stderr, "nothing was changed") ||
		!strings.Contains(r.Stderr, "hint: Role piyasa-deployer grants them") {
		t.Errorf("stderr does not name the missing right:\n%s", r.Stderr)
	}
	if lines := strings.Split(strings.TrimSpace(r.Stderr), "\n"); strings.HasPrefix(lines[len(lines)-1], "hint:") && len(lines) > 3 {
		t.Errorf("more than a short error:\n%s", r.Stderr)
	}
	noLeak(t, r, envFile)
	t.Logf("forbidden deploy says:\n%s", r.Stderr)
	_, err := harness.Client(t).CoreV1().Secrets(ns).Get(context.Background(), "piyasa-secrets", metav1.GetOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("a Secret was written by a forbidden deploy (err=%v)", err)
	}
	// reading is allowed: status works for the same user (exit 1: nothing is
	// deployed, not 3: nothing was forbidden)
	r = harness.Piyasa(t, "deploy", "status", "--env", "dev", "-n", ns, "--as", "piyasa-viewer").ExpectCode(1)
	if !strings.Contains(r.Stderr, "not deployed") {
		t.Errorf("status as viewer:\n%s", r.Stderr)
	}
}
