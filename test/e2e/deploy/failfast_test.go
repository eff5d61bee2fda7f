package deploy_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// crashTag is an image tag whose pods the test cluster makes crash.
const crashTag = "v0.0.0-oomkilled"

// crashingImage makes the pods of the api image tagged crashTag crash as a
// kubelet reports it (CrashLoopBackOff after an OOM kill, exit 137).
func crashingImage(t testing.TB) {
	t.Helper()
	harness.CrashLoopStage(t, "piyasa-e2e-oomkilled", harness.Match{Key: ".spec.containers.[0].image", Values: []string{app.APIImage + ":" + crashTag}})
}

// logsFor serves a crash log for the component's containers in ns, as the
// previous (crashed) and the current container's log.
func logsFor(t testing.TB, ns, container string) {
	t.Helper()
	dir := t.TempDir()
	prev := filepath.Join(dir, "previous.log")
	cur := filepath.Join(dir, "current.log")
	os.WriteFile(prev, []byte("2026-01-01T00:00:00.000000000Z stdout F starting piyasa api\n2026-01-01T00:00:01.000000000Z stderr F MemoryError: cache warm-up exceeded the limit\n"), 0o644)
	os.WriteFile(cur, []byte("2026-01-01T00:00:02.000000000Z stdout F starting piyasa api\n"), 0o644)
	name := "piyasa-e2e-logs-" + ns
	harness.ApplyYAML(t, "", fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: %s
spec:
  selector:
    matchNamespaces: [%s]
  logs:
  - containers: [%s]
    logsFile: %s
    previousLogsFile: %s
`, name, ns, container, cur, prev))
	t.Cleanup(func() { harness.Kubectl(t, "delete", "clusterlogs", name, "--ignore-not-found").Run() })
}

// TestDeployFailsFast: a first deploy whose api pods are OOMKilled and in
// CrashLoopBackOff stops at once, exit 1, with the pod's events and last
// log lines.
func TestDeployFailsFast(t *testing.T) {
	crashingImage(t)
	ns := harness.Namespace(t, "deploy-crash")
	logsFor(t, ns, app.API)
	env := newEnvFile(t, ".env")
	r := harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env, "--image", crashTag, "--timeout", "3m").ExpectCode(1)
	noLeak(t, r, env)
	for _, want := range []string{
		"api is failing: pod dev-api-", "CrashLoopBackOff (last: OOMKilled, exit 137, 4 restarts)",
		"Events of pod dev-api-", "BackOff", "MemoryError: cache warm-up exceeded the limit",
		"error: api deployment/dev-api is failing", "hint: ",
	} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
		}
	}
	if strings.Contains(r.Stderr, "timed out") {
		t.Errorf("deploy waited for the timeout instead of failing fast")
	}
}
