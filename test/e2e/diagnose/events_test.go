package diagnose_test

import (
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// TestFreshDeployHasNoEventHistory (issue 13 #3): right after a fresh deploy
// the scheduler's FailedScheduling events of postgres and redis ("pod has
// unbound immediate PersistentVolumeClaims", while kwok binds their volumes)
// fall in the very second their pods became Ready. Those pods are scheduled
// and Ready now: diagnose gives no PIY950 about them, and no message ends in
// a stray "not found".
func TestFreshDeployHasNoEventHistory(t *testing.T) {
	ns := harness.Namespace(t, "diag-fresh")
	envFile := deployHealthy(t, ns)
	// The events the defect was about are there (else the test proves nothing).
	ev := harness.Kubectl(t, "get", "events", "-n", ns, "--field-selector", "reason=FailedScheduling", "-o", "name").RunOK()
	if strings.TrimSpace(ev.Stdout) == "" {
		t.Log("no FailedScheduling events in this run: the volumes were bound before the pods were scheduled")
	}
	rep := report(t, 0, "--env", "dev", "-n", ns, "--env-file", envFile)
	for _, f := range rep.Findings {
		if f.Code == "PIY950" && f.Object.Kind == "Pod" {
			t.Errorf("PIY950 %s about a pod that is Ready: %s", f.Object, f.Message)
		}
		if strings.HasSuffix(strings.TrimSpace(f.Message), "not found") {
			t.Errorf("%s %s: message ends in a stray \"not found\": %s", f.Code, f.Object, f.Message)
		}
	}
	// The table says the same: no events warning about the app's pods.
	res := harness.Piyasa(t, "diagnose", "--env", "dev", "-n", ns, "-o", "wide").ExpectCode(0)
	for _, line := range strings.Split(res.Stdout, "\n") {
		if strings.Contains(line, "PIY950") && strings.Contains(line, "pod/") {
			t.Errorf("table: %s", line)
		}
	}
}
