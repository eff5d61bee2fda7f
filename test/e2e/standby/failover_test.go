package standby_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/deploy"
	"github.com/piyasa/kubectl-piyasa/test/e2e/e2efleet"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// workerWatch lists the worker pods of both clusters every 100 ms and
// records every moment both had some: workers must run in one region only.
type workerWatch struct {
	stop chan struct{}
	done chan struct{}
	mu   sync.Mutex
	both []string
	seen map[string]bool
}

func watchWorkers(t *testing.T, ns string, clusters map[string]kubernetes.Interface) *workerWatch {
	w := &workerWatch{stop: make(chan struct{}), done: make(chan struct{}), seen: map[string]bool{}}
	c, _ := app.LookupComponent(app.Worker)
	go func() {
		defer close(w.done)
		for {
			running := map[string]int{}
			for name, cs := range clusters {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: c.Selector()})
				cancel()
				if err != nil {
					continue // an API server stopped on purpose
				}
				for _, p := range pods.Items {
					if p.DeletionTimestamp == nil {
						running[name]++
					}
				}
			}
			w.mu.Lock()
			for name, n := range running {
				if n > 0 {
					w.seen[name] = true
				}
			}
			if len(running) == 2 && running["primary"] > 0 && running["standby"] > 0 {
				w.both = append(w.both, fmt.Sprintf("%s: primary %d, standby %d", time.Now().Format("15:04:05.000"), running["primary"], running["standby"]))
			}
			w.mu.Unlock()
			select {
			case <-w.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(w.end)
	return w
}

func (w *workerWatch) end() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

// failoverDoc runs `kubectl piyasa failover ... -o json` and returns its document.
func failoverDoc(t *testing.T, code int, args ...string) (deploy.FailoverReport, harness.Result) {
	t.Helper()
	r := harness.Piyasa(t, append([]string{"failover", "-o", "json"}, args...)...).WithTimeout(8 * time.Minute).Run()
	var doc deploy.FailoverReport
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil || r.Code != code || doc.ExitCode != code {
		t.Fatalf("failover %v: exit %d (want %d), %v\n%s\n%s", args, r.Code, code, err, r.Stdout, r.Stderr)
	}
	return doc, r
}

func inRecovery(t *testing.T, p *harness.Postgres) bool {
	t.Helper()
	in, err := p.InRecovery()
	if err != nil {
		t.Fatalf("pg_is_in_recovery on port %d: %v\n%s", p.Port, err, p.ServerLog())
	}
	return in
}

// TestFailover: on two clusters deployed by `deploy --fleet`, with a real
// streaming pair behind their postgres pods (TLS, the Secret's role
// password) and a writer committing a row every 50 ms:
//   - a planned switchover eu -> us loses no committed row, never runs
//     workers in both regions, leaves eu's database streaming from us and
//     rewrites the fleet file;
//   - with us's database crashed and its API server stopped, a failover
//     whose standby lags more than --accept-data-loss is refused and changes
//     nothing; one that accepts it promotes eu, starts its api, and waits
//     (--fence-wait) with eu's workers at 0 until us's API server is back,
//     fences us (workers and PostgreSQL 0) and only then starts eu's workers;
//   - `failover rejoin` makes us a streaming standby of eu again, its old
//     data directory kept aside.
func TestFailover(t *testing.T) {
	p := e2efleet.Setup(t, "failover")
	ns, standby, pcs, scs, pg, sb, fleetFile := p.NS, p.Standby, p.PCS, p.SCS, p.PG, p.SB, p.Fleet
	w := pg.StartWriter(t, "failover_rows", 50*time.Millisecond)
	watch := watchWorkers(t, ns, map[string]kubernetes.Interface{"primary": pcs, "standby": scs})
	time.Sleep(time.Second)

	t.Run("dry run changes nothing", func(t *testing.T) {
		r := harness.Piyasa(t, "failover", "--fleet", fleetFile, "--to", "us", "--planned", "--dry-run=client").RunOK()
		if !strings.Contains(r.Stdout, "PostgreSQL promoted (dry run)") || inRecovery(t, pg) || !inRecovery(t, sb) {
			t.Fatalf("plan:\n%s", r.Stdout)
		}
	})

	// ServiceAccounts bound in both clusters to the suite's Roles (deploy
	// render --rbac): the switchover runs as piyasa-deployer, which the
	// rights table says suffices; piyasa-operator lacks rights failover
	// checks before it changes anything.
	for _, c := range []*harness.Cluster{p.Primary, p.Standby} {
		for sa, role := range map[string]string{"fo-deployer": "deployer", "fo-operator": "operator"} {
			c.Kubectl(t, "create", "serviceaccount", sa, "-n", ns).RunOK()
			y := harness.Piyasa(t, "deploy", "render", "--rbac", "-n", ns, "--bind-service-account", sa, "--role", role).RunOK().Stdout
			c.Kubectl(t, "apply", "-f", "-").WithStdin(strings.NewReader(y)).RunOK()
		}
	}
	as := func(sa string) string { return "--as=system:serviceaccount:" + ns + ":" + sa }

	t.Run("missing rights", func(t *testing.T) {
		r := harness.Piyasa(t, "failover", "--fleet", fleetFile, "--to", "us", "--planned", "--yes", as("fo-operator")).ExpectCode(3)
		if !strings.Contains(r.Stderr, "before anything was changed") || !strings.Contains(r.Stderr, "services") || inRecovery(t, pg) || !inRecovery(t, sb) {
			t.Fatalf("as piyasa-operator:\n%s", r.Stderr)
		}
		if n := replicasOf(t, pcs, ns, app.KindStatefulSet, "dev-worker"); n == 0 {
			t.Error("eu's workers were stopped")
		}
	})

	t.Run("not confirmed", func(t *testing.T) {
		r := harness.Piyasa(t, "failover", "--fleet", fleetFile, "--to", "us", "--planned").WithStdin(strings.NewReader("eu\n")).ExpectCode(2)
		if !strings.Contains(r.Stderr, "not confirmed") || inRecovery(t, pg) {
			t.Fatalf("%s", r.Stderr)
		}
	})

	t.Run("planned switchover to us", func(t *testing.T) {
		doc, r := failoverDoc(t, 0, "--fleet", fleetFile, "--to", "standby", "--planned", "--yes", as("fo-deployer"))
		if !doc.Planned || !doc.Fenced || doc.RPO == nil || doc.RPO.Seconds != 0 || doc.TotalWorkers != app.Environments["dev"].Replicas[app.Worker] {
			t.Errorf("document: %+v", doc)
		}
		t.Logf("switchover: %.1f s, of which %.1f s waiting, %.1f s overhead", doc.Seconds, doc.WaitSeconds, doc.OverheadSeconds)
		if inRecovery(t, sb) || !inRecovery(t, pg) {
			t.Fatalf("after the switchover sb in recovery %v, pg %v\n%s", inRecovery(t, sb), inRecovery(t, pg), r.Stderr)
		}
		w.Retarget(sb)
		committed := w.Committed()
		if missing := missingRows(t, sb, committed); len(missing) > 0 {
			t.Errorf("%d committed rows lost in the switchover: %v", len(missing), missing[:min(5, len(missing))])
		}
		t.Logf("%d rows committed before the switchover, %d inserts failed during it", len(committed), w.Failures())
		if n := replicasOf(t, pcs, ns, app.KindStatefulSet, "dev-worker"); n != 0 {
			t.Errorf("eu's workers: %d", n)
		}
		if n := replicasOf(t, scs, ns, app.KindStatefulSet, "dev-worker"); n != doc.TotalWorkers {
			t.Errorf("us's workers: %d, want %d", n, doc.TotalWorkers)
		}
		b, _ := os.ReadFile(fleetFile)
		if !strings.Contains(string(b), "    role: standby       # the writable database") || !strings.Contains(string(b), "    role: primary\n    wave: 2") {
			t.Errorf("the fleet file:\n%s", b)
		}
		// eu's database follows us: a row written on us reaches it.
		sb.MustPsql(t, app.DatabaseName, "INSERT INTO failover_rows (note) VALUES ('after')")
		sb.WaitReplayed(t, pg, time.Minute)
		if got := pg.MustPsql(t, app.DatabaseName, "SELECT count(*) FROM failover_rows WHERE note = 'after'"); got != "1" {
			t.Errorf("eu does not follow us: %q", got)
		}
	})

	t.Run("unplanned failover to eu with us lost", func(t *testing.T) {
		time.Sleep(time.Second)
		if err := sb.Crash(); err != nil {
			t.Fatal(err)
		}
		standby.StopAPIServer(t)
		// Status and diagnose across the fleet: us is a row with its error
		// (exit 3, the worst), eu answers; no hang (the bound is a guard).
		for _, cmd := range [][]string{{"deploy", "status"}, {"diagnose"}} {
			r := harness.Piyasa(t, append(cmd, "--fleet", fleetFile, "--cluster-timeout", "5s", "-o", "json")...).WithTimeout(90 * time.Second).ExpectCode(3)
			var l struct {
				Items []struct {
					Context  string `json:"context"`
					ExitCode int    `json:"exitCode"`
					Error    string `json:"error"`
				} `json:"items"`
			}
			if err := json.Unmarshal([]byte(r.Stdout), &l); err != nil || len(l.Items) != 2 {
				t.Fatalf("%v --fleet: %v\n%s", cmd, err, r.Stdout)
			}
			for _, it := range l.Items {
				if it.Context == "standby" && (it.ExitCode != 3 || it.Error == "") || it.Context == "primary" && it.ExitCode == 3 {
					t.Errorf("%v --fleet with us's API server stopped: item %+v", cmd, it)
				}
			}
		}
		r := harness.Piyasa(t, "failover", "--fleet", fleetFile, "--to", "eu", "--accept-data-loss", "0", "--yes", "--cluster-timeout", "5s").ExpectCode(1)
		if !strings.Contains(r.Stderr, "over --accept-data-loss 0 s") || !inRecovery(t, pg) {
			t.Fatalf("a lagging standby without --accept-data-loss:\n%s", r.Stderr)
		}
		// us's API server comes back while the failover waits to fence it:
		// eu's workers start only once us is fenced.
		run := harness.Piyasa(t, "failover", "-o", "json", "--fleet", fleetFile, "--to", "eu", "--accept-data-loss", "3600", "--yes",
			"--cluster-timeout", "10s", "--fence-wait", "5m").Background()
		run.WaitFor("wait until us answers", 4*time.Minute)
		if n := replicasOf(t, pcs, ns, app.KindStatefulSet, "dev-worker"); n != 0 {
			t.Errorf("eu's workers started before us was fenced: %d", n)
		}
		if inRecovery(t, pg) {
			t.Error("eu's database is not promoted while the failover waits to fence us")
		}
		standby.StartAPIServer(t)
		r = run.ExitWithin(5 * time.Minute)
		var doc deploy.FailoverReport
		if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil || r.Code != 0 {
			t.Fatalf("failover: exit %d, %v\n%s\n%s", r.Code, err, r.Stdout, r.Stderr)
		}
		if doc.Planned || !doc.Fenced || doc.RPO == nil || doc.RPO.LastReplayed == nil || !strings.Contains(doc.Rejoin, "failover rejoin") {
			t.Errorf("document: %+v", doc)
		}
		if !strings.Contains(r.Stderr, "fenced on its return") {
			t.Errorf("stderr:\n%s", r.Stderr)
		}
		w.Retarget(pg)
		committed := w.Committed()
		lost := missingRows(t, pg, committed)
		t.Logf("failover: RPO %.1f s (last replayed %s); %d of %d committed rows lost; %.1f s, overhead %.1f s",
			doc.RPO.Seconds, doc.RPO.LastReplayed, len(lost), len(committed), doc.Seconds, doc.OverheadSeconds)
		if inRecovery(t, pg) {
			t.Fatal("eu's database is still a standby")
		}
		if n := replicasOf(t, pcs, ns, app.KindStatefulSet, "dev-worker"); n != doc.TotalWorkers || n == 0 {
			t.Errorf("eu's workers: %d, want %d", n, doc.TotalWorkers)
		}
		for _, w := range []string{"dev-worker"} {
			if n := replicasOf(t, scs, ns, app.KindStatefulSet, w); n != 0 {
				t.Errorf("us's %s after it came back: %d, want 0 (fenced)", w, n)
			}
		}
		if n := replicasOf(t, scs, ns, app.KindDeployment, "dev-"+app.Postgres); n != 0 {
			t.Errorf("us's postgres after it came back: %d, want 0 (fenced)", n)
		}
	})

	t.Run("rejoin makes us a standby of eu", func(t *testing.T) {
		harness.Piyasa(t, "failover", "rejoin", "--fleet", fleetFile, "us").WithStdin(strings.NewReader("eu\n")).ExpectCode(2)
		r := harness.Piyasa(t, "failover", "rejoin", "--fleet", fleetFile, "us", "--yes").WithTimeout(6 * time.Minute).RunOK()
		if !strings.Contains(r.Stdout, "its old data directory is kept at") {
			t.Errorf("rejoin:\n%s", r.Stdout)
		}
		if n := replicasOf(t, scs, ns, app.KindStatefulSet, "dev-worker"); n != 0 {
			t.Errorf("us's workers after rejoin: %d", n)
		}
		if !inRecovery(t, sb) {
			t.Fatal("us's database is not a standby after rejoin")
		}
		pg.MustPsql(t, app.DatabaseName, "INSERT INTO failover_rows (note) VALUES ('rejoined')")
		pg.WaitReplayed(t, sb, time.Minute)
	})

	watch.end()
	if len(watch.both) > 0 {
		t.Errorf("workers ran in both regions at once: %v", watch.both)
	}
	if !watch.seen["primary"] || !watch.seen["standby"] {
		t.Errorf("the watch saw workers in %v only", watch.seen)
	}
}

// missingRows returns the committed ids p lacks.
func missingRows(t *testing.T, p *harness.Postgres, ids []int64) []int64 {
	t.Helper()
	have := map[string]bool{}
	for _, id := range strings.Fields(p.MustPsql(t, app.DatabaseName, "SELECT id FROM failover_rows")) {
		have[id] = true
	}
	var missing []int64
	for _, id := range ids {
		if !have[fmt.Sprint(id)] {
			missing = append(missing, id)
		}
	}
	return missing
}
