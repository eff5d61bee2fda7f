package scale_test

import (
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// crashNewWorkers makes the pods dev-worker-2 and dev-worker-3 of namespace
// ns crash as a kubelet reports it (CrashLoopBackOff after an OOM kill).
func crashNewWorkers(t *testing.T, ns string) {
	t.Helper()
	harness.CrashLoopStage(t, "piyasa-e2e-crash-"+ns,
		harness.Match{Key: ".metadata.namespace", Values: []string{ns}},
		harness.Match{Key: ".metadata.name", Values: []string{"dev-worker-2", "dev-worker-3"}})
}

// A worker scale whose new workers crash stops at once (fail fast) and puts
// TOTAL_WORKERS, the replicas and the pod template back.
func TestWorkerRollbackCrash(t *testing.T) {
	t.Parallel()
	ns := deployDev(t, nil)
	crashNewWorkers(t, ns)
	r := harness.Piyasa(t, "scale", "worker", "4", "-n", ns, "--env", "dev", "--timeout", "3m").ExpectCode(1)
	for _, want := range []string{"is failing", "CrashLoopBackOff", "rolled back: TOTAL_WORKERS is 2 again and statefulset/dev-worker is back to 2 replicas"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
		}
	}
	assertWorkersRolledBack(t, ns)
}
