package scale_test

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// Two `scale worker` at once (scale worker 5 & scale worker 7 & wait): one
// wins and exits 0 at its count; the other fails with a clear message (it
// found the lock, or lost the race for it) and changes nothing. Never an exit
// 0 for a count that was not reached, never the raw API conflict text.
func TestWorkerConcurrentScales(t *testing.T) {
	t.Parallel()
	ns := deployDev(t, nil)
	counts := []int{5, 7}
	results := make([]harness.Result, len(counts))
	var wg sync.WaitGroup
	for i, n := range counts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = harness.Piyasa(t, "scale", "worker", strconv.Itoa(n), "-n", ns, "--env", "dev", "--timeout", "3m").Run()
		}()
	}
	wg.Wait()
	winner := -1
	for i, r := range results {
		t.Logf("scale worker %d: exit %d\nstdout:\n%s\nstderr:\n%s", counts[i], r.Code, r.Stdout, r.Stderr)
		if strings.Contains(r.Stderr, "Operation cannot be fulfilled") {
			t.Errorf("scale worker %d shows the raw API conflict text", counts[i])
		}
		switch r.Code {
		case 0:
			// Both may succeed only one after the other (a loaded machine
			// starts the second when the first is done): the second then
			// scaled from the first's count, and its count is the end state.
			switch {
			case winner < 0:
				winner = i
			case strings.Contains(r.Stdout, fmt.Sprintf("scaled: %d -> %d replicas", counts[winner], counts[i])):
				winner = i
			case strings.Contains(results[winner].Stdout, fmt.Sprintf("scaled: %d -> %d replicas", counts[i], counts[winner])):
			default:
				t.Errorf("both scales exited 0 (%d and %d), neither after the other", counts[winner], counts[i])
			}
		case 1:
			if !strings.Contains(r.Stderr, "another") || !strings.Contains(r.Stderr, "nothing was changed") {
				t.Errorf("scale worker %d lost without a clear message:\n%s", counts[i], r.Stderr)
			}
		default:
			t.Errorf("scale worker %d: exit %d, want 0 or 1", counts[i], r.Code)
		}
	}
	if winner < 0 {
		t.Fatal("neither scale succeeded")
	}
	want := counts[winner]
	if tw := totalWorkers(t, ns); tw != strconv.Itoa(want) {
		t.Errorf("TOTAL_WORKERS=%s, want the winner's %d", tw, want)
	}
	if spec, ready := replicas(t, ns, app.KindStatefulSet, "dev-worker"); int(spec) != want || int(ready) != want {
		t.Errorf("statefulset: %d desired, %d ready, want %d", spec, ready, want)
	}
	// The lock is gone: the next scale is accepted.
	harness.Piyasa(t, "scale", "worker", "2", "-n", ns, "--env", "dev").RunOK()
	if tw := totalWorkers(t, ns); tw != "2" {
		t.Errorf("TOTAL_WORKERS=%s after scale worker 2", tw)
	}
}

// hintCommands returns the commands a hint line gives ("...: kubectl X; then: kubectl Y").
func hintCommands(t *testing.T, stderr string) [][]string {
	t.Helper()
	i := strings.Index(stderr, "hint: ")
	if i < 0 {
		t.Fatalf("no hint in:\n%s", stderr)
	}
	hint := strings.TrimSpace(strings.SplitN(stderr[i:], "\n", 2)[0])
	var out [][]string
	for _, part := range strings.Split(hint, "; then: ") {
		j := strings.Index(part, "kubectl ")
		if j < 0 {
			t.Fatalf("hint part without a command: %q", part)
		}
		out = append(out, strings.Fields(part[j:]))
	}
	return out
}

// runHint runs a hint's commands word for word: each must be accepted.
func runHint(t *testing.T, stderr string) {
	t.Helper()
	for _, c := range hintCommands(t, stderr) {
		harness.Command(t, c[0], c[1:]...).RunOK()
	}
}

// Every hint of a refusal is a command accepted in that state, followed word
// for word: postgres at 0 replicas, and scale worker under a worker HPA.
func TestRefusalHintsWork(t *testing.T) {
	t.Parallel()
	ns := deployDev(t, nil)

	harness.Kubectl(t, "scale", "deployment/dev-postgres", "--replicas=0", "-n", ns).RunOK()
	r := harness.Piyasa(t, "scale", "postgres", "1", "-n", ns, "--env", "dev").ExpectCode(2)
	if !strings.Contains(r.Stderr, "kubectl scale deployment/dev-postgres --replicas=1 -n "+ns) {
		t.Errorf("no way back for postgres at 0:\n%s", r.Stderr)
	}
	runHint(t, r.Stderr)
	if spec, _ := replicas(t, ns, app.KindDeployment, "dev-postgres"); spec != 1 {
		t.Errorf("postgres has %d replicas after the hint, want 1", spec)
	}

	harness.Kubectl(t, "autoscale", "statefulset", "dev-worker", "-n", ns, "--min", "2", "--max", "10", "--name", "dev-worker-hpa").RunOK()
	r = harness.Piyasa(t, "scale", "worker", "3", "-n", ns, "--env", "dev").ExpectCode(2)
	if !strings.Contains(r.Stderr, "kubectl delete hpa dev-worker-hpa -n "+ns) {
		t.Errorf("refusal under a worker HPA does not say to delete it:\n%s", r.Stderr)
	}
	runHint(t, r.Stderr)
	if tw := totalWorkers(t, ns); tw != "3" {
		t.Errorf("TOTAL_WORKERS=%s after following the hint, want 3", tw)
	}
}
