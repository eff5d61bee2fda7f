package pitr_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/backup"
	"github.com/piyasa/kubectl-piyasa/shared/oplock"
	"github.com/piyasa/kubectl-piyasa/test/e2e/e2ebackup"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// pitrArchiveTimeout is the test server's archive_timeout (seconds).
const pitrArchiveTimeout = 1

// setupPITR is setup with a server archiving its WAL (archive_timeout 1 s),
// the harness playing the postgres pod's lifecycle, and a ticks table.
// pathFirst are directories of fake tools the pods' execs find first.
func setupPITR(t *testing.T, pathFirst ...string) *e2ebackup.Env {
	t.Helper()
	return setupPITRTimeout(t, pitrArchiveTimeout, pathFirst...)
}

// setupPITRTimeout is setupPITR with the server's archive_timeout in seconds.
func setupPITRTimeout(t *testing.T, archiveTimeout int, pathFirst ...string) *e2ebackup.Env {
	t.Helper()
	ns := harness.Namespace(t, "pitr")
	password := harness.CanaryValue("pw")
	pg := harness.StartPostgres(t, app.DatabaseUser, password, app.DatabaseName, harness.WithWALArchive(archiveTimeout))
	pg.MustPsql(t, app.DatabaseName, `CREATE TABLE ticks (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE TABLE users (id serial PRIMARY KEY, name text); INSERT INTO users (name) SELECT 'u' || g FROM generate_series(1, 500) g`)
	harness.ApplyYAML(t, ns, harness.DatabaseAppYAML(password, true))
	// The volumes the restore Job mounts, bound to PersistentVolumes (kwok
	// has no provisioner); the harness maps their paths to the server's dirs.
	for _, claim := range []string{"dev-" + app.PostgresPVC, "dev-" + app.WALArchivePVC} {
		harness.ApplyYAML(t, ns, fmt.Sprintf(pvYAML, ns+"-"+claim, ns, claim, claim, ns+"-"+claim))
	}
	e2ebackup.WaitApp(t, ns, 1, 2)
	pg.Kubelet(t, ns, "dev-postgres")
	pod := ""
	for deadline := time.Now().Add(time.Minute); pod == ""; {
		pods, err := harness.Client(t).CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: harness.PostgresKubeletLabel + "=true"})
		if err == nil && len(pods.Items) == 1 && pods.Items[0].Status.Phase == "Running" {
			pod = pods.Items[0].Name
		}
		if time.Now().After(deadline) {
			t.Fatal("the postgres pod played by the harness never ran")
		}
		time.Sleep(200 * time.Millisecond)
	}
	e2ebackup.WaitApp(t, ns, 1, 2)
	e := &e2ebackup.Env{NS: ns, PG: pg, Dir: t.TempDir(), Pod: pod}
	pg.ClusterExecEnv(t, ns, pod, nil, pathFirst...)
	return e
}

// pvYAML is a PersistentVolume pre-bound to a claim, and the claim.
const pvYAML = `apiVersion: v1
kind: PersistentVolume
metadata: {name: %s}
spec:
  capacity: {storage: 1Gi}
  accessModes: [ReadWriteOnce]
  hostPath: {path: /nonexistent}
  claimRef: {namespace: %s, name: %s}
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: %s}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: ""
  volumeName: %s
  resources: {requests: {storage: 1Gi}}
`

// tick is one row the writer's INSERT returned.
type tick struct {
	ID int64
	At time.Time
}

// writer inserts a timestamped row every 100 ms until stopped.
type writer struct {
	mu    sync.Mutex
	ticks []tick
	stop  chan struct{}
	done  chan struct{}
}

func startWriter(t *testing.T, pg *harness.Postgres) *writer {
	w := &writer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			out, err := pg.Psql(app.DatabaseName, "INSERT INTO ticks DEFAULT VALUES RETURNING id, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")
			if err != nil {
				continue
			}
			f := strings.Fields(out)
			id, _ := strconv.ParseInt(f[0], 10, 64)
			at, err := time.Parse(time.RFC3339Nano, f[1])
			if err != nil {
				t.Errorf("writer: %q: %v", out, err)
				return
			}
			w.mu.Lock()
			w.ticks = append(w.ticks, tick{id, at})
			w.mu.Unlock()
		}
	}()
	return w
}

func (w *writer) Stop() []tick {
	close(w.stop)
	<-w.done
	return w.ticks
}

// switchAndArchive ends the current WAL segment and waits until it is archived.
func switchAndArchive(t *testing.T, pg *harness.Postgres) {
	t.Helper()
	seg := pg.MustPsql(t, "postgres", "SELECT pg_walfile_name(pg_switch_wal())")
	for deadline := time.Now().Add(30 * time.Second); ; {
		if _, err := os.Stat(filepath.Join(pg.WALArchive, seg)); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("segment %s not archived", seg)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var labelStart = regexp.MustCompile(`START WAL LOCATION: (\S+) \(file ([0-9A-F]{24})\)`)

// baseBackup takes a base backup as `backup create --physical` stores it:
// pg_basebackup -Ft -X fetch -D -, zstd-compressed, with its BackupInfo.
func baseBackup(t *testing.T, e *e2ebackup.Env) *backup.BackupInfo {
	t.Helper()
	start := time.Now().UTC()
	cmd := exec.Command(filepath.Join(e.PG.BinDir, "pg_basebackup"), "-Ft", "-X", "fetch", "-D", "-", "-c", "fast")
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, e.PG.Env()...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	raw, err := cmd.Output()
	if err != nil {
		t.Fatalf("pg_basebackup: %v\n%s", err, stderr.String())
	}
	end := time.Now().UTC()
	endLSN := e.PG.MustPsql(t, "postgres", "SELECT pg_current_wal_lsn()")
	label := ""
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Name == "backup_label" {
			b, _ := io.ReadAll(tr)
			label = string(b)
		}
	}
	m := labelStart.FindStringSubmatch(label)
	if m == nil {
		t.Fatalf("no START WAL LOCATION in backup_label:\n%s", label)
	}
	var stored bytes.Buffer
	zw, _ := zstd.NewWriter(&stored)
	zw.Write(raw)
	zw.Close()
	name := fmt.Sprintf("piyasa_db-%s-%s.base.tar.zst", e.NS, end.Format("20060102T150405.000Z"))
	if err := os.WriteFile(filepath.Join(e.Dir, name), stored.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	rs, ss := sha256.Sum256(raw), sha256.Sum256(stored.Bytes())
	info := &backup.BackupInfo{Name: name, Namespace: e.NS, Environment: "dev", Format: backup.FormatBaseBackup, Database: app.DatabaseName,
		StartTime: start, EndTime: end, Compression: "zstd", RawBytes: int64(len(raw)), RawSHA256: hex.EncodeToString(rs[:]),
		StoredBytes: int64(stored.Len()), StoredSHA256: hex.EncodeToString(ss[:]), BackupKind: backup.KindManual,
		WAL: &backup.WALRange{Timeline: 1, StartLSN: m[1], EndLSN: endLSN, StartSegment: m[2]}}
	doc, err := info.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.Dir, name+".json"), doc, 0o644); err != nil {
		t.Fatal(err)
	}
	return info
}

// idsUpTo lists the ids of the rows the writer wrote up to t, as the server has them.
func idsText(t *testing.T, pg *harness.Postgres, where string) string {
	t.Helper()
	return pg.MustPsql(t, app.DatabaseName, "SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM ticks "+where)
}

// between picks a time halfway between two rows written after the base backup.
func between(t *testing.T, ticks []tick, after time.Time) time.Time {
	t.Helper()
	for i := len(ticks) / 2; i+1 < len(ticks); i++ {
		if ticks[i].At.After(after.Add(time.Second)) && ticks[i+1].At.Sub(ticks[i].At) > 40*time.Millisecond {
			return ticks[i].At.Add(ticks[i+1].At.Sub(ticks[i].At) / 2)
		}
	}
	t.Fatalf("no two rows to restore between after %s", after)
	return time.Time{}
}

// TestPITRToTime: a base backup, writes every 100 ms, a restore --to-time
// between two rows gives exactly the rows up to it, on a new timeline, the
// old data directory kept as the safety copy, the app back, the lock gone.
func TestPITRToTime(t *testing.T) {
	e := setupPITR(t)
	w := startWriter(t, e.PG)
	time.Sleep(2 * time.Second)
	info := baseBackup(t, e)
	time.Sleep(4 * time.Second)
	ticks := w.Stop()
	switchAndArchive(t, e.PG)
	target := between(t, ticks, info.EndTime)
	ts := target.Format(time.RFC3339Nano)
	want := idsText(t, e.PG, fmt.Sprintf("WHERE at <= '%s'", ts))
	all := idsText(t, e.PG, "")
	if want == all || want == "" {
		t.Fatalf("the target %s does not split the rows", ts)
	}

	r := e.Backup(t, "restore", "--to-time", ts, "--from", e.Dir, "--yes").Run()
	if r.Code != 0 {
		t.Fatalf("restore exit %d:\n%s\n%s\nserver log:\n%s", r.Code, r.Stdout, r.Stderr, tail(e.PG.ServerLog(), 30))
	}
	e2ebackup.NoSecret(t, e, r)
	t.Logf("restore:\n%s%s", r.Stderr, r.Stdout)
	if got := idsText(t, e.PG, ""); got != want {
		t.Errorf("rows after the restore to %s:\n%s\nwant the rows up to it:\n%s", ts, got, want)
	}
	if !strings.Contains(r.Stdout, "timeline 2") || !strings.Contains(r.Stdout, "app running (api=1 worker=2)") {
		t.Errorf("stdout: %s", r.Stdout)
	}
	if n := e.PG.MustPsql(t, app.DatabaseName, "SELECT count(*) FROM users"); n != "500" {
		t.Errorf("users: %s rows, want 500", n)
	}
	safety, _ := filepath.Glob(e.PG.Data + app.SafetyCopySuffix + "*")
	if len(safety) != 1 {
		t.Errorf("safety copies: %v, want one", safety)
	}
	e2ebackup.WaitApp(t, e.NS, 1, 2)
	if e2ebackup.LeaseExists(t, e.NS) {
		t.Error("the database lock was not released")
	}
	if a, w := e2ebackup.RestoreAnnotations(t, e.NS); a != "" || w != "" {
		t.Errorf("restore record left: %q %q", a, w)
	}
	// restore_command is reloaded at once; recovery_target_* keep their value
	// in the running server until its next start, which must not find them.
	if s := e.PG.MustPsql(t, "postgres", `SELECT current_setting('restore_command') || '|' || (SELECT count(*) FROM pg_file_settings
  WHERE name IN ('restore_command', 'recovery_target_time', 'recovery_target_action'))`); s != "|0" {
		t.Errorf("recovery settings left (restore_command|settings in the configuration files): %q", s)
	}
	if _, err := os.Stat(filepath.Join(e.PG.Data, "recovery.signal")); err == nil {
		t.Error("recovery.signal left in the data directory")
	}
	// The sequence continues: the app's next INSERT works.
	e.PG.MustPsql(t, app.DatabaseName, "INSERT INTO ticks DEFAULT VALUES")
	// The next plan expects this restore's measured duration.
	took := regexp.MustCompile(`stopped for (\d+s)`).FindStringSubmatch(r.Stdout)
	if took == nil {
		t.Fatalf("the restore does not say how long the app was stopped:\n%s", r.Stdout)
	}
	d, err := time.ParseDuration(took[1])
	if err != nil {
		t.Fatal(err)
	}
	plan := e.Backup(t, "restore", "--to-time", ts, "--from", e.Dir, "--dry-run").RunOK()
	// The same base backup: at least the measured time (more WAL may follow now).
	m := regexp.MustCompile(`expected duration: about (\d+s) with the app stopped \(the last restore here, of a (.+) base backup and \d+ WAL segments, took (\d+s) on `).FindStringSubmatch(plan.Stdout)
	if m == nil || m[2] != backup.HumanBytes(info.RawBytes) || m[3] != d.String() {
		t.Fatalf("dry run after a restore stopped for %s lacks the expected duration from it:\n%s", d, plan.Stdout)
	}
	if exp, _ := time.ParseDuration(m[1]); exp < d {
		t.Errorf("expected %s, below the measured %s", exp, d)
	}
}

func tail(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return strings.Join(l, "\n")
}

// TestPITRRefusals: --dry-run prints the plan and changes nothing; a time
// outside the window, a missing WAL segment and a held database lock are
// refused before anything stops.
func TestPITRRefusals(t *testing.T) {
	e := setupPITR(t)
	w := startWriter(t, e.PG)
	time.Sleep(time.Second)
	info := baseBackup(t, e)
	for i := 0; i < 3; i++ {
		time.Sleep(700 * time.Millisecond)
		switchAndArchive(t, e.PG)
	}
	ticks := w.Stop()
	switchAndArchive(t, e.PG)
	target := between(t, ticks, info.EndTime.Add(-time.Second))
	ts := target.Format(time.RFC3339Nano)
	before := idsText(t, e.PG, "")
	unchanged := func(what string) {
		t.Helper()
		if got := idsText(t, e.PG, ""); got != before {
			t.Errorf("%s changed the rows", what)
		}
		if api, worker := e2ebackup.Replicas(t, e.NS); api != 1 || worker != 2 {
			t.Errorf("%s scaled the app: api=%d worker=%d", what, api, worker)
		}
		if e2ebackup.LeaseExists(t, e.NS) {
			t.Errorf("%s left the database lock", what)
		}
		if s, _ := filepath.Glob(e.PG.Data + app.SafetyCopySuffix + "*"); len(s) != 0 {
			t.Errorf("%s moved the data directory: %v", what, s)
		}
	}

	r := e.Backup(t, "restore", "--to-time", ts, "--from", e.Dir, "--dry-run").RunOK()
	for _, s := range []string{"base backup:      " + filepath.Join(e.Dir, info.Name), "WAL replayed:     " + info.WAL.StartSegment + " to ",
		"stopped:          api=1 worker=2 postgres=1", "needed,", "database lock:    free", "dry run: nothing was changed"} {
		if !strings.Contains(r.Stdout, s) {
			t.Errorf("dry run lacks %q:\n%s", s, r.Stdout)
		}
	}
	unchanged("--dry-run")

	early := info.EndTime.Add(-time.Hour).Format(time.RFC3339)
	r = e.Backup(t, "restore", "--to-time", early, "--from", e.Dir, "--yes").ExpectCode(2)
	if !strings.Contains(r.Stderr, "is outside what can be restored: the recovery window is "+info.EndTime.Format(time.RFC3339)) {
		t.Errorf("stderr:\n%s", r.Stderr)
	}
	unchanged("a time outside the window")

	// A segment between the base backup's start and the target goes missing.
	start, _ := strconv.ParseUint(info.WAL.StartSegment[16:], 16, 32)
	missing := fmt.Sprintf("%s%08X", info.WAL.StartSegment[:16], start+1)
	aside := filepath.Join(t.TempDir(), missing)
	if err := os.Rename(filepath.Join(e.PG.WALArchive, missing), aside); err != nil {
		t.Fatal(err)
	}
	r = e.Backup(t, "restore", "--to-time", ts, "--from", e.Dir, "--yes").ExpectCode(2)
	if !strings.Contains(r.Stderr, "WAL segment "+missing+" is missing") {
		t.Errorf("stderr:\n%s", r.Stderr)
	}
	unchanged("a missing segment")
	if err := os.Rename(aside, filepath.Join(e.PG.WALArchive, missing)); err != nil {
		t.Fatal(err)
	}

	holder := oplock.Holder{Identity: "oncall@laptop (pid 4242)", User: "oncall@laptop"}
	lock, err := oplock.Acquire(context.Background(), harness.Client(t), e.NS, "dev-piyasa-migrate", holder, "migrate up 0004", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	r = e.Backup(t, "restore", "--to-time", ts, "--from", e.Dir, "--dry-run").RunOK()
	if !strings.Contains(r.Stdout, "database lock:    held: migrate up 0004 by oncall@laptop (pid 4242)") {
		t.Errorf("dry run does not name the lock holder:\n%s", r.Stdout)
	}
	r = e.Backup(t, "restore", "--to-time", ts, "--from", e.Dir, "--yes").ExpectCode(1)
	if !strings.Contains(r.Stderr, "another operation holds the database lock dev-piyasa-migrate: migrate up 0004 by oncall@laptop") {
		t.Errorf("stderr:\n%s", r.Stderr)
	}
	if err := lock.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	unchanged("a restore refused by the lock")
}

// TestPITRToLatest: the data directory is lost (the server killed, its
// directory removed); --to-latest brings back every row archived: at most
// archive_timeout of writes is lost (the figure is logged).
func TestPITRToLatest(t *testing.T) {
	e := setupPITR(t)
	w := startWriter(t, e.PG)
	time.Sleep(time.Second)
	baseBackup(t, e)
	time.Sleep(5 * time.Second)
	if err := e.PG.Crash(); err != nil {
		t.Fatal(err)
	}
	ticks := w.Stop()
	if err := os.RemoveAll(e.PG.Data); err != nil {
		t.Fatal(err)
	}
	last := ticks[len(ticks)-1]

	r := e.Backup(t, "restore", "--to-latest", "--from", e.Dir, "--yes").Run()
	if r.Code != 0 {
		t.Fatalf("restore exit %d:\n%s\n%s\nserver log:\n%s", r.Code, r.Stdout, r.Stderr, tail(e.PG.ServerLog(), 30))
	}
	t.Logf("restore:\n%s%s", r.Stderr, r.Stdout)
	got := e.PG.MustPsql(t, app.DatabaseName, "SELECT max(id) || ' ' || to_char(max(at) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM ticks")
	f := strings.Fields(got)
	maxID, _ := strconv.ParseInt(f[0], 10, 64)
	maxAt, _ := time.Parse(time.RFC3339Nano, f[1])
	lost := last.At.Sub(maxAt)
	t.Logf("RPO: %d of %d rows lost, the last %.2fs of writes (archive_timeout %ds)", last.ID-maxID, last.ID, lost.Seconds(), pitrArchiveTimeout)
	if maxID > last.ID || lost > pitrArchiveTimeout*time.Second+700*time.Millisecond {
		t.Errorf("restored up to row %d (%s), the last written was %d (%s): lost %s, more than archive_timeout %ds (+ the WAL writer's 600 ms with synchronous_commit=off)",
			maxID, maxAt, last.ID, last.At, lost, pitrArchiveTimeout)
	}
	if n := idsText(t, e.PG, fmt.Sprintf("WHERE id <= %d", maxID)); strings.Count(n, ",")+1 != int(maxID) {
		t.Errorf("rows up to %d are not all there", maxID)
	}
	e2ebackup.WaitApp(t, e.NS, 1, 2)
	e.PG.MustPsql(t, app.DatabaseName, "INSERT INTO ticks DEFAULT VALUES")
}
