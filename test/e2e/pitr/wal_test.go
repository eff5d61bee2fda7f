package pitr_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/backup"
	"github.com/piyasa/kubectl-piyasa/shared/walarchive"
	"github.com/piyasa/kubectl-piyasa/test/e2e/e2ebackup"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// setupArchiving is setup with a PostgreSQL that archives WAL as the
// manifests make it (archive_timeout 1 s), its archive directory the postgres
// pod's $WAL_ARCHIVE_DIR.
func setupArchiving(t *testing.T) *e2ebackup.Env {
	t.Helper()
	ns := harness.Namespace(t, "wal")
	password := harness.CanaryValue("pw")
	pg := harness.StartPostgres(t, app.DatabaseUser, password, app.DatabaseName, harness.WithWALArchive(1))
	harness.ApplyYAML(t, ns, harness.DatabaseAppYAML(password, true))
	e2ebackup.WaitApp(t, ns, 1, 2)
	c, _ := app.LookupComponent(app.Postgres)
	pods, err := harness.Client(t).CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: c.Selector()})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("postgres pod: %v (%d pods)", err, len(pods.Items))
	}
	e := &e2ebackup.Env{NS: ns, PG: pg, Dir: t.TempDir(), Pod: pods.Items[0].Name}
	pg.ClusterExec(t, ns, e.Pod)
	pg.MustPsql(t, app.DatabaseName, "CREATE TABLE chats (id serial PRIMARY KEY, body text, at timestamptz DEFAULT now())")
	return e
}

// newSegment writes rows, switches to a new WAL segment and waits until the
// finished one is archived; it returns that segment's name.
func newSegment(t *testing.T, e *e2ebackup.Env) string {
	t.Helper()
	e.PG.MustPsql(t, app.DatabaseName, "INSERT INTO chats (body) SELECT md5(g::text) FROM generate_series(1, 500) g")
	seg := strings.TrimSpace(e.PG.MustPsql(t, app.DatabaseName, "SELECT pg_walfile_name(pg_switch_wal())"))
	if !walarchive.IsSegmentName(seg) {
		t.Fatalf("not a segment name: %q", seg)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(e.PG.WALArchive, seg)); err == nil {
			return seg
		}
		if time.Now().After(deadline) {
			t.Fatalf("segment %s not archived in 30s", seg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func fileSHA(t *testing.T, path string) (string, int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:]), int64(len(b))
}

func syncResult(t *testing.T, r harness.Result) backup.WALSyncResult {
	t.Helper()
	var res backup.WALSyncResult
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
		t.Fatalf("WALSyncResult: %v\n%s", err, r.Stdout)
	}
	return res
}

func statusDoc(t *testing.T, r harness.Result) backup.BackupStatus {
	t.Helper()
	var s backup.BackupStatus
	if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil {
		t.Fatalf("BackupStatus: %v\n%s\n%s", err, r.Stdout, r.Stderr)
	}
	return s
}

// checkSynced: every file copied into dir is byte-identical to the archive's
// and its sidecar holds its sha256 and size.
func checkSynced(t *testing.T, e *e2ebackup.Env, dir string, names []string) {
	t.Helper()
	for _, n := range names {
		want, size := fileSHA(t, filepath.Join(e.PG.WALArchive, n))
		got, _ := fileSHA(t, filepath.Join(dir, n))
		if got != want {
			t.Errorf("%s: sha256 %s, the archive's %s", n, got, want)
		}
		side, err := os.ReadFile(filepath.Join(dir, n+".sha256"))
		if err != nil {
			t.Fatalf("%s: no sidecar: %v", n, err)
		}
		sum, bytes, err := backup.ParseSidecar(string(side))
		if err != nil || sum != want || bytes != size {
			t.Errorf("%s: sidecar %q (%v), want %s %d", n, side, err, want, size)
		}
	}
}

// TestWALSyncAndStatus: wal sync copies the archived segments with matching
// sha256 and sidecars, a rerun copies nothing, and a segment lost from the
// archive before it was synced is a gap that backup status names, exit 1.
func TestWALSyncAndStatus(t *testing.T) {
	e := setupArchiving(t)
	first := newSegment(t, e)
	newSegment(t, e)
	walDir := filepath.Join(e.Dir, "wal", e.NS)

	r := e.Backup(t, "wal", "sync", "--dir", e.Dir, "-o", "json").RunOK()
	res := syncResult(t, r)
	var bytes int64
	for _, f := range res.Files {
		_, n := fileSHA(t, filepath.Join(e.PG.WALArchive, f))
		bytes += n
	}
	if res.Copied < 2 || res.Copied != len(res.Files) || res.Bytes != bytes {
		t.Fatalf("first sync: %+v (%d bytes in the archive)", res, bytes)
	}
	if !contains(res.Files, first) {
		t.Errorf("first sync did not copy %s: %v", first, res.Files)
	}
	checkSynced(t, e, walDir, res.Files)
	for _, f := range e2ebackup.Files(t, walDir) {
		if strings.HasPrefix(f, ".") {
			t.Errorf("temporary file left: %s", f)
		}
	}

	again := syncResult(t, e.Backup(t, "wal", "sync", "--dir", e.Dir, "-o", "json").RunOK())
	if again.Copied != 0 || again.Skipped != res.Copied || again.LastSegment != res.LastSegment {
		t.Fatalf("rerun copied: %+v (first %+v)", again, res)
	}

	st := statusDoc(t, e.Backup(t, "status", "--dir", e.Dir, "-o", "json").RunOK())
	if len(st.Gaps) != 0 || st.Archiver == nil || st.Archiver.LastArchivedWAL == "" || st.Archive == nil || st.Archive.Volume == nil ||
		st.Target == nil || st.Target.LastSyncedSegment != res.LastSegment {
		t.Fatalf("status: %+v", st)
	}

	// A segment lost from the archive before any sync copied it.
	lost := newSegment(t, e)
	after := newSegment(t, e)
	if err := os.Remove(filepath.Join(e.PG.WALArchive, lost)); err != nil {
		t.Fatal(err)
	}
	res = syncResult(t, e.Backup(t, "wal", "sync", "--dir", e.Dir, "-o", "json").RunOK())
	if contains(res.Files, lost) || !contains(res.Files, after) {
		t.Fatalf("sync after the loss: %+v", res)
	}
	checkSynced(t, e, walDir, res.Files)

	r = e.Backup(t, "status", "--dir", e.Dir, "-o", "json").ExpectCode(1)
	st = statusDoc(t, r)
	if len(st.Gaps) != 1 || st.Gaps[0].Missing != lost || st.Gaps[0].Resume != after || len(st.Problems) == 0 {
		t.Fatalf("status after the loss (%s lost): gaps %+v problems %q", lost, st.Gaps, st.Problems)
	}
	r = e.Backup(t, "status", "--dir", e.Dir, "-o", "prometheus").ExpectCode(1)
	for _, want := range []string{
		`piyasa_wal_gaps{namespace="` + e.NS + `"} 1`,
		`piyasa_wal_archive_failures_total{namespace="` + e.NS + `"} 0`,
		`piyasa_backup_last_base_backup_timestamp_seconds{namespace="` + e.NS + `"} 0`,
		"# TYPE piyasa_wal_last_synced_timestamp_seconds gauge",
	} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("prometheus output lacks %q:\n%s", want, r.Stdout)
		}
	}
}

// TestWALSyncS3: the same sync into the harness's S3 server, idempotent.
func TestWALSyncS3(t *testing.T) {
	s3 := harness.StartS3(t, "wal")
	e := setupArchiving(t)
	newSegment(t, e)
	r := e.Backup(t, "wal", "sync", "--to", "s3://wal/piyasa", "-o", "json").WithEnv(s3.Env()...).RunOK()
	res := syncResult(t, r)
	if res.Copied == 0 || res.Location != "s3://wal/piyasa/wal/"+e.NS+"/" {
		t.Fatalf("sync to S3: %+v", res)
	}
	if strings.Contains(r.Stdout+r.Stderr, s3.SecretKey) {
		t.Fatal("output shows the S3 secret key")
	}
	checkSynced(t, e, filepath.Join(s3.Root, "wal", "piyasa", "wal", e.NS), res.Files)
	again := syncResult(t, e.Backup(t, "wal", "sync", "--to", "s3://wal/piyasa", "-o", "json").WithEnv(s3.Env()...).RunOK())
	if again.Copied != 0 || again.Skipped != res.Copied {
		t.Fatalf("rerun to S3: %+v", again)
	}
	st := statusDoc(t, e.Backup(t, "status", "--to", "s3://wal/piyasa", "-o", "json").WithEnv(s3.Env()...).RunOK())
	if st.Target == nil || st.Target.LastSyncedSegment != res.LastSegment || st.Target.SyncedFiles != res.Copied {
		t.Fatalf("status from S3: %+v", st.Target)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
