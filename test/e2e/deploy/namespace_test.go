package deploy_test

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// TestDeployFailsFastOnQuota: pods a ResourceQuota refuses stop deploy at
// once with the quota's message, not at the timeout (issue 16 #9).
func TestDeployFailsFastOnQuota(t *testing.T) {
	ns := harness.Namespace(t, "deploy-quota")
	harness.Kubectl(t, "create", "quota", "q", "--hard=pods=2", "-n", ns).RunOK()
	env := newEnvFile(t, ".env")
	r := harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env, "--timeout", "3m").ExpectCode(1)
	if !strings.Contains(r.Stderr, "exceeded quota") || strings.Contains(r.Stderr, "timed out") || !strings.Contains(r.Stderr, "ResourceQuota") {
		t.Fatalf("stderr:\n%s", r.Stderr)
	}
	if r.Duration > 2*time.Minute {
		t.Fatalf("took %s", r.Duration)
	}
	noLeak(t, r, env)
	t.Logf("quota-blocked deploy ends after %s with:\n%s", r.Duration.Round(time.Second), lastLines(r.Stderr, 3))
}

// TestTerminatingNamespace: a deploy into a namespace being deleted says so
// (not Forbidden with an RBAC hint), and `delete --delete-data` waits until
// the namespace is gone (issue 16 #12).
func TestTerminatingNamespace(t *testing.T) {
	ctx := context.Background()
	cs := harness.Client(t)
	ns := harness.Namespace(t, "deploy-term")
	// A finalizer holds the namespace in Terminating until the test lets go.
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "hold", Finalizers: []string{"piyasa.io/e2e-hold"}}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	release := func() {
		_, _ = cs.CoreV1().ConfigMaps(ns).Patch(ctx, "hold", types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
	}
	t.Cleanup(release)
	if err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	env := newEnvFile(t, ".env")
	r := harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env).ExpectCode(1)
	if !strings.Contains(r.Stderr, "is being deleted") || strings.Contains(r.Stderr, "RBAC") || strings.Contains(r.Stderr, "auth can-i") {
		t.Fatalf("deploy into a terminating namespace:\n%s", r.Stderr)
	}
	// delete --delete-data of that namespace waits for it, and gives up after --timeout.
	r = harness.Piyasa(t, "deploy", "delete", "--env", "dev", "-n", ns, "--yes", "--delete-data", "--timeout", "3s").ExpectCode(1)
	if !strings.Contains(r.Stderr, "is still being deleted after 3s") {
		t.Fatalf("delete of a held namespace:\n%s", r.Stderr)
	}
	release()
	r = harness.Piyasa(t, "deploy", "delete", "--env", "dev", "-n", ns, "--yes", "--delete-data", "--timeout", "2m").Run()
	if _, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("delete returned (exit %d) while the namespace exists (%v):\n%s%s", r.Code, err, r.Stdout, r.Stderr)
	}
	// Gone before delete waited, or while it waited: either way it said so.
	if r.Code == 0 && !strings.Contains(r.Stdout, "namespace/"+ns+" deleted") {
		t.Fatalf("exit 0 without saying the namespace is gone:\n%s", r.Stdout)
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
