package deploy_test

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// TestInterruptLeavesWhatWasApplied: Ctrl-C during the wait exits 130, says
// how to continue, and leaves the applied objects in place. A ResourceQuota
// of 0 pods keeps the rollout waiting (no pod ever exists, so nothing fails).
func TestInterruptLeavesWhatWasApplied(t *testing.T) {
	ns := harness.Namespace(t, "deploy-int")
	harness.ApplyYAML(t, ns, "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: no-pods\nspec:\n  hard:\n    pods: \"0\"\n")
	env := newEnvFile(t, ".env")

	pr, pw := io.Pipe()
	var stderr strings.Builder
	cmd := harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env, "--timeout", "5m").Start(io.Discard, pw)
	waiting := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(pr)
		closed := false
		for sc.Scan() {
			stderr.WriteString(sc.Text() + "\n")
			if !closed && strings.Contains(sc.Text(), "Waiting for 5 workloads") {
				close(waiting)
				closed = true
			}
		}
	}()
	select {
	case <-waiting:
	case <-time.After(2 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("deploy never started waiting:\n%s", stderr.String())
	}
	// Ctrl-C: kubectl and the piyasa dispatcher exec the plugin, so the
	// started process is the plugin itself.
	if err := signalPlugin(cmd); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	pw.Close()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if code != 130 {
		t.Fatalf("exit %d, want 130:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "kubectl piyasa deploy status -n "+ns) {
		t.Fatalf("no hint how to continue:\n%s", stderr.String())
	}
	harness.Kubectl(t, "get", "deployment", "dev-api", "-n", ns).RunOK()
	harness.Kubectl(t, "get", "secret", "piyasa-secrets", "-n", ns).RunOK()

	// --wait=false returns at once after applying.
	r := harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env, "--wait=false").RunOK()
	if strings.Contains(r.Stderr, "Waiting for") {
		t.Fatalf("waited:\n%s", r.Stderr)
	}
}

// signalPlugin sends SIGINT to the plugin process.
func signalPlugin(cmd *exec.Cmd) error {
	return cmd.Process.Signal(os.Interrupt)
}
