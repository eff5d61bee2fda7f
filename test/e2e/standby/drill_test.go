package standby_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/test/e2e/e2efleet"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// regionDrill returns `bash scripts/runbooks/region-drill.sh args...` in the sandbox.
func regionDrill(t testing.TB, args ...string) *harness.Cmd {
	return harness.Command(t, "bash", append([]string{filepath.Join(harness.RepoRoot(), "scripts", "runbooks", "region-drill.sh")}, args...)...)
}

// TestRegionDrill runs the runbook region-drill.sh on the two clusters of
// e2efleet (eu primary, us standby, a real streaming pair behind their
// postgres pods): its --dry-run changes nothing; the drill fails over to us
// unplanned, rejoins eu, switches back planned, prints each leg's RTO and
// RPO, and leaves eu the primary again (the fleet file, the databases and
// the workers).
func TestRegionDrill(t *testing.T) {
	p := e2efleet.Setup(t, "drill")
	before, err := os.ReadFile(p.Fleet)
	if err != nil {
		t.Fatal(err)
	}
	workers := app.Environments["dev"].Replicas[app.Worker]
	// The app writes to eu all along (failing while eu is not the primary),
	// and the workers must never run in both regions.
	w := p.PG.StartWriter(t, "drill_rows", 200*time.Millisecond)
	watch := watchWorkers(t, p.NS, map[string]kubernetes.Interface{"primary": p.PCS, "standby": p.SCS})
	time.Sleep(time.Second)

	t.Run("bad input", func(t *testing.T) {
		r := regionDrill(t, "--fleet", p.Fleet, "--to", "nowhere", "--dry-run").ExpectCode(2)
		if !strings.Contains(r.Stderr, "--to nowhere") {
			t.Errorf("stderr:\n%s", r.Stderr)
		}
		regionDrill(t, "--fleet", filepath.Join(t.TempDir(), "missing.yaml")).ExpectCode(2)
	})

	t.Run("dry run changes nothing", func(t *testing.T) {
		r := regionDrill(t, "--fleet", p.Fleet, "--dry-run").RunOK()
		for _, want := range []string{
			"would run: kubectl piyasa failover --fleet " + p.Fleet + " --to us --accept-data-loss 3600 --yes -o json",
			"would run: kubectl piyasa failover rejoin --fleet " + p.Fleet + " eu --yes",
			"would run: kubectl piyasa failover --fleet " + p.Fleet + " --to eu --planned --yes -o json",
		} {
			if !strings.Contains(r.Stdout, want) {
				t.Errorf("no %q in:\n%s", want, r.Stdout)
			}
		}
		if !strings.Contains(r.Stderr, "PostgreSQL promoted") {
			t.Errorf("no plan on stderr:\n%s", r.Stderr)
		}
		if after, _ := os.ReadFile(p.Fleet); string(after) != string(before) {
			t.Errorf("the dry run rewrote the fleet file:\n%s", after)
		}
		if inRecovery(t, p.PG) || !inRecovery(t, p.SB) {
			t.Error("the dry run changed a database's role")
		}
		if n := replicasOf(t, p.PCS, p.NS, app.KindStatefulSet, "dev-worker"); n != workers {
			t.Errorf("eu's workers after the dry run: %d", n)
		}
	})

	t.Run("drill", func(t *testing.T) {
		r := regionDrill(t, "--fleet", p.Fleet, "--timeout", "3m").WithTimeout(15 * time.Minute).RunOK()
		t.Logf("the drill's report:\n%s", r.Stdout)
		for _, re := range []string{
			`(?m)^  unplanned failover eu -> us: RTO [0-9.]+ s \(the failover's own work [0-9.]+ s, waiting [0-9.]+ s\), RPO [0-9]+\.[0-9] s \(last transaction replayed [-0-9T:.Z]+, promoted [-0-9T:.Z]+\)`,
			`(?m)^  rejoin of eu as a standby of us: [0-9]+\.[0-9] s$`,
			`(?m)^  planned switchover us -> eu: RTO [0-9.]+ s \(the failover's own work [0-9.]+ s, waiting [0-9.]+ s\), RPO 0\.0 s, 2 workers$`,
			`(?m)^region-drill: OK \(eu is the primary again\)$`,
		} {
			if !regexp.MustCompile(re).MatchString(r.Stdout) {
				t.Errorf("no line matching %s in:\n%s\nstderr:\n%s", re, r.Stdout, r.Stderr)
			}
		}
		after, _ := os.ReadFile(p.Fleet)
		if !strings.Contains(string(after), "    role: primary       # the writable database") || !strings.Contains(string(after), "    role: standby\n    wave: 2") {
			t.Errorf("the fleet file does not name eu the primary again:\n%s", after)
		}
		if inRecovery(t, p.PG) {
			t.Error("eu's database is in recovery after the drill")
		}
		if !inRecovery(t, p.SB) {
			t.Error("us's database is not in recovery after the drill")
		}
		if n := replicasOf(t, p.PCS, p.NS, app.KindStatefulSet, "dev-worker"); n == 0 {
			t.Errorf("eu's workers after the drill: %d", n)
		}
		if n := replicasOf(t, p.SCS, p.NS, app.KindStatefulSet, "dev-worker"); n != 0 {
			t.Errorf("us's workers after the drill: %d, want 0", n)
		}
		committed := w.Stop()
		have := map[string]bool{}
		for _, id := range strings.Fields(p.PG.MustPsql(t, app.DatabaseName, "SELECT id FROM drill_rows")) {
			have[id] = true
		}
		var lost []int64
		for _, id := range committed {
			if !have[strconv.FormatInt(id, 10)] {
				lost = append(lost, id)
			}
		}
		t.Logf("%d rows committed on eu during the drill (%d inserts failed while eu was not the primary), %d of them not on eu after it", len(committed), w.Failures(), len(lost))
		watch.end()
		if len(watch.both) > 0 {
			t.Errorf("workers ran in both regions at once: %v", watch.both)
		}
		if !watch.seen["standby"] {
			t.Error("the watch never saw us's workers: the drill did not fail over")
		}
	})

	t.Run("planned only", func(t *testing.T) {
		r := regionDrill(t, "--fleet", p.Fleet, "--to", "standby", "--planned-only").WithTimeout(10 * time.Minute).RunOK()
		t.Logf("the drill's report:\n%s", r.Stdout)
		for _, re := range []string{
			`(?m)^  planned switchover eu -> us: RTO [0-9.]+ s .*, RPO 0\.0 s, 2 workers$`,
			`(?m)^  planned switchover us -> eu: RTO [0-9.]+ s .*, RPO 0\.0 s, 2 workers$`,
			`(?m)^region-drill: OK \(eu is the primary again\)$`,
		} {
			if !regexp.MustCompile(re).MatchString(r.Stdout) {
				t.Errorf("no line matching %s in:\n%s", re, r.Stdout)
			}
		}
		if strings.Contains(r.Stdout, "rejoin") {
			t.Errorf("a planned-only drill rejoined:\n%s", r.Stdout)
		}
		if inRecovery(t, p.PG) || !inRecovery(t, p.SB) {
			t.Error("after the planned-only drill eu is not the primary with us its standby")
		}
	})
}
