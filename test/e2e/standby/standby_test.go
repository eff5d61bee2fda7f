package standby_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/diagnose"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/replication"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// region is one cluster of the pair: its context, and the postgres pod of
// the app's namespace there.
type region struct {
	context string
	cluster *harness.Cluster
	pod     string
}

// setup deploys the app in the same namespace of both clusters, starts the
// replication pair and maps each cluster's postgres pod to its server.
func setup(t *testing.T) (ns string, primary, standby region, pg, sb *harness.Postgres) {
	t.Helper()
	primary = region{context: "primary", cluster: harness.ClusterOf(t, "primary")}
	standby = region{context: "standby", cluster: harness.ClusterOf(t, "standby")}
	ns = primary.cluster.Namespace(t, "standby")
	standby.cluster.CreateNamespace(t, ns)
	env := harness.InitEnv(t, filepath.Join(t.TempDir(), ".env"))
	pg = harness.StartPostgres(t, app.DatabaseUser, harness.CanaryValue("pw"), app.DatabaseName, harness.WithReplication())
	sb = pg.StartStandby(t, "standby-eu")
	for _, r := range []*region{&primary, &standby} {
		harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env, "--context", r.context, "--timeout", "3m").RunOK()
		pod, _, err := kube.PostgresPod(context.Background(), r.cluster.Client(t), ns)
		if err != nil {
			t.Fatalf("%s: %v", r.context, err)
		}
		r.pod = pod.Name
	}
	pg.ClusterExecIn(t, primary.cluster, ns, primary.pod, nil)
	sb.ClusterExecIn(t, standby.cluster, ns, standby.pod, nil)
	return ns, primary, standby, pg, sb
}

// status runs `deploy status -o json --context CTX` and returns its replication part.
func status(t *testing.T, ns, ctx string) *replication.Status {
	t.Helper()
	r := harness.Piyasa(t, "deploy", "status", "--env", "dev", "-n", ns, "--context", ctx, "-o", "json").ExpectCode(0)
	var doc struct {
		Replication *replication.Status `json:"replication"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("deploy status -o json: %v\n%s", err, r.Stdout)
	}
	return doc.Replication
}

// diagnosePIY983 runs `diagnose --probe --only PIY983 --fail-on warning`
// against a context and returns its PIY983 findings; exit 1 with findings,
// 0 without.
func diagnosePIY983(t *testing.T, ns, ctx string) []diagnose.Finding {
	t.Helper()
	r := harness.Piyasa(t, "diagnose", "--env", "dev", "-n", ns, "--context", ctx, "--probe", "--only", "PIY983", "--fail-on", "warning", "-o", "json").Run()
	var rep struct {
		Findings []diagnose.Finding `json:"findings"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("diagnose -o json: %v\n%s\n%s", err, r.Stdout, r.Stderr)
	}
	var out []diagnose.Finding
	for _, f := range rep.Findings {
		if f.Code != "PIY983" {
			t.Fatalf("diagnose --only PIY983 found %s: %s", f.Code, f.Message)
		}
		out = append(out, f)
	}
	if want := map[bool]int{true: 1, false: 0}[len(out) > 0]; r.Code != want {
		t.Fatalf("diagnose exit %d with %d findings\n%s", r.Code, len(out), r.Stderr)
	}
	return out
}

// TestStandbyRegion: the standby cluster's postgres pod reaches a hot
// standby that has the rows written on the primary and refuses writes;
// `deploy status` shows the replication line and field in each region; and
// diagnose reports PIY983 in both while the standby's replay is paused and
// the primary writes, and no longer once it has caught up.
func TestStandbyRegion(t *testing.T) {
	ns, primary, standby, pg, sb := setup(t)
	pg.MustPsql(t, app.DatabaseName, "CREATE TABLE chats (id serial PRIMARY KEY, body text); INSERT INTO chats (body) SELECT md5(g::text) FROM generate_series(1, 1000) g")
	pg.WaitReplayed(t, sb, time.Minute)

	t.Run("rows readable on the standby, writes refused", func(t *testing.T) {
		psql := func(sql string) harness.Result {
			return standby.cluster.Kubectl(t, "exec", "-n", ns, standby.pod, "--", "sh", "-c",
				`PGPASSWORD="$POSTGRES_PASSWORD" psql -X -At -U "$POSTGRES_USER" -d `+app.DatabaseName+` -c "`+sql+`"`).Run()
		}
		if r := psql("SELECT count(*) FROM chats"); strings.TrimSpace(r.Stdout) != "1000" {
			t.Fatalf("rows in the standby cluster's postgres pod: %q %q", r.Stdout, r.Stderr)
		}
		if r := psql("INSERT INTO chats (body) VALUES ('x')"); !strings.Contains(r.Stderr, "read-only transaction") {
			t.Fatalf("a write in the standby cluster's postgres pod: %q %q", r.Stdout, r.Stderr)
		}
	})

	t.Run("deploy status per context", func(t *testing.T) {
		r := harness.Piyasa(t, "deploy", "status", "--env", "dev", "-n", ns, "--context", standby.context).ExpectCode(0)
		if !strings.Contains(r.Stderr, "replication: standby of 127.0.0.1, replay lag ") || !strings.Contains(r.Stderr, ", streaming\n") {
			t.Fatalf("no standby line:\n%s", r.Stderr)
		}
		s := status(t, ns, standby.context)
		if s == nil || s.Role != replication.RoleStandby || s.SenderHost != "127.0.0.1" || s.SenderPort != pg.Port || s.ReceiverStatus != "streaming" ||
			s.ReplayLSN == "" || s.LagBytes >= replication.DefaultLimits.Bytes || s.ReplayPaused {
			t.Fatalf("standby's replication: %+v", s)
		}
		r = harness.Piyasa(t, "deploy", "status", "--env", "dev", "-n", ns, "--context", primary.context).ExpectCode(0)
		if !strings.Contains(r.Stderr, "replication: primary, 1 standby (standby-eu streaming, lag ") {
			t.Fatalf("no primary line:\n%s", r.Stderr)
		}
		p := status(t, ns, primary.context)
		if p == nil || p.Role != replication.RolePrimary || len(p.Standbys) != 1 || p.Standbys[0].Name != "standby-eu" || p.Standbys[0].Client != "127.0.0.1" {
			t.Fatalf("primary's replication: %+v", p)
		}
	})

	t.Run("diagnose PIY983 while the replay is paused", func(t *testing.T) {
		for _, ctx := range []string{standby.context, primary.context} {
			if f := diagnosePIY983(t, ns, ctx); len(f) != 0 {
				t.Fatalf("%s: PIY983 on a standby that keeps up: %+v", ctx, f)
			}
		}
		sb.PauseReplay(t)
		paused := true
		defer func() {
			if paused {
				sb.ResumeReplay(t)
			}
		}()
		// About 40 MB of WAL: more than the 16 MiB limit, received but not replayed.
		pg.MustPsql(t, app.DatabaseName, "INSERT INTO chats (body) SELECT repeat(md5(g::text), 8) FROM generate_series(1, 100000) g")
		waitReceived(t, sb, 2*replication.DefaultLimits.Bytes)
		f := diagnosePIY983(t, ns, standby.context)
		if len(f) != 1 || f[0].Severity != diagnose.SeverityWarning || !strings.Contains(f[0].Message, "replay paused") || !strings.Contains(f[0].Fix, "pg_wal_replay_resume") {
			t.Fatalf("standby: want one PIY983 naming the paused replay: %+v", f)
		}
		s := status(t, ns, standby.context)
		if s == nil || !s.ReplayPaused || s.LagBytes <= replication.DefaultLimits.Bytes {
			t.Fatalf("standby's replication while paused: %+v", s)
		}
		if f := diagnosePIY983(t, ns, primary.context); len(f) != 1 || !strings.Contains(f[0].Message, "standby standby-eu: replay lag") {
			t.Fatalf("primary: want one PIY983 naming standby-eu: %+v", f)
		}
		sb.ResumeReplay(t)
		paused = false
		pg.WaitReplayed(t, sb, time.Minute)
		if f := diagnosePIY983(t, ns, standby.context); len(f) != 0 {
			t.Fatalf("PIY983 after the standby caught up: %+v", f)
		}
		if got := sb.MustPsql(t, app.DatabaseName, "SELECT count(*) FROM chats"); got != "101000" {
			t.Fatalf("rows on the standby after the replay: %s", got)
		}
	})
}

// waitReceived waits until the standby has received at least n bytes of WAL
// more than it replayed.
func waitReceived(t *testing.T, sb *harness.Postgres, n int64) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := sb.Psql("postgres", "SELECT pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::bigint")
		if got, perr := strconv.ParseInt(strings.TrimSpace(out), 10, 64); err == nil && perr == nil && got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the standby did not receive %d bytes ahead of its replay in a minute (%q, %v)", n, out, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
