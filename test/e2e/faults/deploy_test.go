package faults_test

import (
	"strings"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// TestDeployWaitRidesOutAnOutage: the API server killed during deploy's
// rollout wait and back after 5 s: the wait re-lists, says once that the
// connection was lost and once that it was regained, and the deploy ends
// with exit 0 once the pods are ready.
func TestDeployWaitRidesOutAnOutage(t *testing.T) {
	ns := harness.Namespace(t, "faults")
	envFile := t.TempDir() + "/dev.env"
	harness.Piyasa(t, "deploy", "init-env", "-f", envFile).RunOK()
	holdPods(t, ns)
	d := start(t, harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", envFile, "--timeout", "4m"))
	d.waitFor(d.stderr, "Waiting for ", 3*time.Minute)
	harness.APIServerOutage(t, 5*time.Second)
	releasePods(t, ns)
	r := d.wait(5 * time.Minute)
	expectCode(t, r, 0)
	outageReported(t, r.Stderr)
	harness.NoLeak(t, r.Stdout+r.Stderr, envFile)
	if !strings.Contains(r.Stderr, "rolled out") {
		t.Errorf("no rollout reported after the outage:\n%s", r.Stderr)
	}
}

// TestDeployOutagePastTimeout: the API server down for longer than
// --timeout: exit 3 with one error line naming the cluster, not exit 1
// "timed out".
func TestDeployOutagePastTimeout(t *testing.T) {
	ns := harness.Namespace(t, "faults")
	envFile := t.TempDir() + "/dev.env"
	harness.Piyasa(t, "deploy", "init-env", "-f", envFile).RunOK()
	holdPods(t, ns)
	d := start(t, harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", envFile, "--timeout", "15s"))
	d.waitFor(d.stderr, "Waiting for ", 3*time.Minute)
	harness.StopAPIServer(t)
	r := d.wait(2 * time.Minute)
	harness.StartAPIServer(t)
	expectCode(t, r, 3)
	errs := errorLines(r.Stderr)
	want := "error: cannot reach the cluster at " + harness.Env.Server + ": the connection was lost "
	if len(errs) != 1 || !strings.HasPrefix(errs[0], want) || !strings.HasSuffix(errs[0], "and did not come back within the 15s timeout") {
		t.Errorf("want one line %q...; stderr:\n%s", want, r.Stderr)
	}
	if strings.Contains(r.Stderr, "timed out") {
		t.Errorf("an unreachable cluster reported as a timeout:\n%s", r.Stderr)
	}
	if strings.Count(r.Stderr, lostLine) != 1 {
		t.Errorf("want one lost line:\n%s", r.Stderr)
	}
}
