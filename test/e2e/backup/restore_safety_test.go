package backup_test

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/oplock"
	"github.com/piyasa/kubectl-piyasa/test/e2e/e2ebackup"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// TestRestoreTargetsOnlyWhatItWasAsked (D4, item 4): --env prod against the
// dev namespace is refused with exit 2 naming the missing workloads, and a
// backup of prod is refused in dev unless --from-other-env; nothing changes.
func TestRestoreTargetsOnlyWhatItWasAsked(t *testing.T) {
	e := e2ebackup.Setup(t)
	file := filepath.Join(e.Dir, "dev.sql.zst")
	e.Backup(t, "create", "-f", file).RunOK()
	e.PG.MustPsql(t, app.DatabaseName, "DELETE FROM messages WHERE id > 100")
	changed := e2ebackup.Digest(t, e.PG, app.DatabaseName)

	r := harness.Piyasa(t, "backup", "restore", file, "--env", "prod", "-n", e.NS, "--yes", "--no-safety-backup").ExpectCode(2)
	if !strings.Contains(r.Stderr, "has no Deployment prod-api and no StatefulSet prod-worker") || strings.Contains(r.Stderr, "stopping the app") {
		t.Errorf("stderr:\n%s", r.Stderr)
	}
	e2ebackup.NoSecret(t, e, r)

	// A backup that says it is of prod (taken with --env prod here).
	prodFile := filepath.Join(e.Dir, "prod.sql.zst")
	harness.Piyasa(t, "backup", "create", "-f", prodFile, "--env", "prod", "-n", e.NS).RunOK()
	r = e.Backup(t, "restore", prodFile, "--yes", "--no-safety-backup").ExpectCode(2)
	if !strings.Contains(r.Stderr, "is a backup of environment prod, not dev") || !strings.Contains(r.Stderr, "--from-other-env") {
		t.Errorf("stderr:\n%s", r.Stderr)
	}
	e2ebackup.SameDigest(t, "after the refused restores", changed, e2ebackup.Digest(t, e.PG, app.DatabaseName))
	if api, worker := e2ebackup.Replicas(t, e.NS); api != 1 || worker != 2 {
		t.Errorf("refused restores scaled the app: api=%d worker=%d", api, worker)
	}
	if e2ebackup.LeaseExists(t, e.NS) {
		t.Error("a refused restore left the database lock")
	}
	r = e.Backup(t, "restore", prodFile, "--yes", "--no-safety-backup", "--from-other-env").RunOK()
	if !strings.Contains(r.Stderr, "as --from-other-env asks") {
		t.Errorf("stderr:\n%s", r.Stderr)
	}
}

// TestRestoreIsExactAndStopsFirst (D6, D10): objects made after the backup
// (a table, a view, a function, a type, a schema) are gone after the
// restore, alembic_version is the backup's and the output says it went
// back; rows an app writes until it is stopped are all in the safety backup.
func TestRestoreIsExactAndStopsFirst(t *testing.T) {
	e := e2ebackup.Setup(t)
	source := e2ebackup.Digest(t, e.PG, app.DatabaseName)
	file := filepath.Join(e.Dir, "b.sql.zst")
	e.Backup(t, "create", "-f", file).RunOK()
	e.PG.MustPsql(t, app.DatabaseName, `CREATE TABLE after_backup (id int); CREATE VIEW v_after AS SELECT 1 AS x;
CREATE FUNCTION f_after() RETURNS int LANGUAGE sql AS 'SELECT 1'; CREATE TYPE t_after AS ENUM ('a');
CREATE SCHEMA s_after; CREATE TABLE s_after.x (id int); CREATE SEQUENCE seq_after;
UPDATE alembic_version SET version_num = '9e9e9e9e9e9e'; CREATE TABLE writes (id int PRIMARY KEY)`)

	// The "app" writes a row every 20 ms until its Deployment is scaled to 0.
	var wg sync.WaitGroup
	var written int
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 1; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if api, _ := e2ebackup.Replicas(t, e.NS); api == 0 {
				return
			}
			if _, err := e.PG.Psql(app.DatabaseName, "INSERT INTO writes VALUES ("+strconv.Itoa(i)+")"); err == nil {
				written = i
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	r := e.Backup(t, "restore", file, "--yes").Run()
	close(stop)
	wg.Wait()
	if r.Code != 0 {
		t.Fatalf("restore exit %d:\n%s", r.Code, r.Stderr)
	}
	e2ebackup.NoSecret(t, e, r)
	e2ebackup.SameDigest(t, "after the restore", source, e2ebackup.Digest(t, e.PG, app.DatabaseName))
	left := e.PG.MustPsql(t, app.DatabaseName, `SELECT concat_ws(',',
  (SELECT string_agg(relname, ' ') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE relname IN ('after_backup', 'v_after', 'seq_after', 'writes', 'x') AND n.nspname NOT LIKE 'pg\_%'),
  (SELECT string_agg(proname, ' ') FROM pg_proc WHERE proname = 'f_after'),
  (SELECT string_agg(typname, ' ') FROM pg_type WHERE typname = 't_after'),
  (SELECT string_agg(nspname, ' ') FROM pg_namespace WHERE nspname = 's_after'))`)
	if left != "" {
		t.Errorf("objects made after the backup survived the restore: %s", left)
	}
	if rev := e.PG.MustPsql(t, app.DatabaseName, "SELECT version_num FROM alembic_version"); rev != "3f2a1b9c0d4e" {
		t.Errorf("alembic_version %s, want the backup's 3f2a1b9c0d4e", rev)
	}
	if !strings.Contains(r.Stderr, "the Alembic revision goes back from 9e9e9e9e9e9e to the backup's 3f2a1b9c0d4e: run `kubectl piyasa migrate up") {
		t.Errorf("stderr lacks the Alembic change:\n%s", r.Stderr)
	}
	if i := strings.Index(r.Stderr, "stopping the app"); i < 0 || i > strings.Index(r.Stderr, "safety backup of") {
		t.Errorf("the safety backup was not taken after the app was stopped:\n%s", r.Stderr)
	}
	// Every row written until the app stopped is in the safety backup.
	safety := ""
	for _, f := range e2ebackup.Files(t, e.Dir) {
		if strings.Contains(f, "-pre-restore") && !strings.HasSuffix(f, ".json") {
			safety = filepath.Join(e.Dir, f)
		}
	}
	e.Backup(t, "restore", safety, "--to-database", "piyasa_safety").RunOK()
	got := e.PG.MustPsql(t, "piyasa_safety", "SELECT count(*) || ' ' || coalesce(max(id), 0) FROM writes")
	if want := strconv.Itoa(written) + " " + strconv.Itoa(written); written == 0 || got != want {
		t.Errorf("safety backup holds %s of the rows written before the stop, want %s", got, want)
	}
}

// TestRestoreLockWait (D12): a session holding a lock on a restored table
// makes the load fail within --lock-timeout, naming that session and
// --terminate-sessions; piyasa_db keeps its content; --terminate-sessions
// then ends the session and the restore succeeds.
func TestRestoreLockWait(t *testing.T) {
	e := e2ebackup.Setup(t)
	source := e2ebackup.Digest(t, e.PG, app.DatabaseName)
	file := filepath.Join(e.Dir, "b.sql.zst")
	e.Backup(t, "create", "-f", file).RunOK()
	e.PG.MustPsql(t, app.DatabaseName, "DELETE FROM messages WHERE id > 100")
	changed := e2ebackup.Digest(t, e.PG, app.DatabaseName)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	blocker := exec.CommandContext(ctx, filepath.Join(e.PG.BinDir, "psql"), "-X", "-q", "-d", app.DatabaseName,
		"-c", "BEGIN; LOCK TABLE users IN ACCESS SHARE MODE; SELECT pg_sleep(600);")
	blocker.Env = append(e.PG.Env(), "PGAPPNAME=e2e-blocker")
	if err := blocker.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- blocker.Wait() }()
	for e.PG.MustPsql(t, app.DatabaseName, "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'e2e-blocker' AND l.granted AND l.relation = 'users'::regclass") != "1" {
		time.Sleep(100 * time.Millisecond)
	}

	r := e.Backup(t, "restore", file, "--yes", "--no-safety-backup", "--lock-timeout", "3s").ExpectCode(1)
	for _, want := range []string{"other sessions on piyasa_db: pid ", "application e2e-blocker", "psql waited --lock-timeout 3s for a lock", "--terminate-sessions ends them", "piyasa_db holds what it held before"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
		}
	}
	e2ebackup.NoSecret(t, e, r)
	e2ebackup.SameDigest(t, "after the lock timeout", changed, e2ebackup.Digest(t, e.PG, app.DatabaseName))

	r = e.Backup(t, "restore", file, "--yes", "--no-safety-backup", "--terminate-sessions").RunOK()
	if !strings.Contains(r.Stderr, "ending 1 other session(s) on piyasa_db: pid ") {
		t.Errorf("stderr:\n%s", r.Stderr)
	}
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Error("the blocking session was not ended")
	}
	e2ebackup.SameDigest(t, "after --terminate-sessions", source, e2ebackup.Digest(t, e.PG, app.DatabaseName))
	if api, worker := e2ebackup.Replicas(t, e.NS); api != 1 || worker != 2 {
		t.Errorf("replicas api=%d worker=%d, want 1 and 2", api, worker)
	}
}

// TestRestoreTakesTheDatabaseLock (D5): a restore is refused while a
// migration holds the database lock, naming it; of two restores started
// together one runs and the other is refused naming it.
func TestRestoreTakesTheDatabaseLock(t *testing.T) {
	e := e2ebackup.Setup(t)
	file := filepath.Join(e.Dir, "b.sql.zst")
	e.Backup(t, "create", "-f", file).RunOK()
	holder := oplock.Holder{Identity: "oncall@laptop (pid 4242)", User: "oncall@laptop"}
	lock, err := oplock.Acquire(context.Background(), harness.Client(t), e.NS, "dev-piyasa-migrate", holder, "migrate up 0004", time.Now)
	if err != nil {
		t.Fatal(err)
	}
	r := e.Backup(t, "restore", file, "--yes").ExpectCode(1)
	if !strings.Contains(r.Stderr, "another operation holds the database lock dev-piyasa-migrate: migrate up 0004 by oncall@laptop (pid 4242) since ") {
		t.Errorf("stderr:\n%s", r.Stderr)
	}
	if api, worker := e2ebackup.Replicas(t, e.NS); api != 1 || worker != 2 {
		t.Errorf("a refused restore scaled the app: api=%d worker=%d", api, worker)
	}
	if err := lock.Release(context.Background()); err != nil {
		t.Fatal(err)
	}

	a := e.Backup(t, "restore", file, "--yes", "--no-safety-backup").Background()
	b := e.Backup(t, "restore", file, "--yes", "--no-safety-backup").Background()
	ra, rb := a.ExitWithin(3*time.Minute), b.ExitWithin(3*time.Minute)
	if ra.Code+rb.Code != 1 || ra.Code*rb.Code != 0 {
		t.Fatalf("exits %d and %d, want one 0 and one 1:\n%s\n%s", ra.Code, rb.Code, ra.Stderr, rb.Stderr)
	}
	refused := ra
	if rb.Code == 1 {
		refused = rb
	}
	if !strings.Contains(refused.Stderr, "another operation holds the database lock dev-piyasa-migrate: restore "+file+" by ") {
		t.Errorf("refusal:\n%s", refused.Stderr)
	}
	if api, worker := e2ebackup.Replicas(t, e.NS); api != 1 || worker != 2 {
		t.Errorf("replicas api=%d worker=%d, want 1 and 2", api, worker)
	}
	if e2ebackup.LeaseExists(t, e.NS) {
		t.Error("the database lock was not released")
	}
}

// TestRestoreKilledThenRerun (item 7, R1): Ctrl-C in the load says whether
// the load's transaction committed (and that is what holds); a restore
// killed (SIGKILL) in its load leaves the app stopped with the restore's
// record on it; running the same restore again finishes it: the data equal
// the backup, the app is back at its recorded replicas and the record is gone.
func TestRestoreKilledThenRerun(t *testing.T) {
	// psql of the load gets its input slowly: the kill lands in the load.
	psql := `#!/bin/sh
case " $* " in *" --single-transaction "*)
  { head -c 200000; sleep 4; cat; } | "` + realTool("psql") + `" "$@"
  exit $?;;
esac
exec "` + realTool("psql") + `" "$@"
`
	e := e2ebackup.Setup(t, e2ebackup.FakeTool(t, "psql", psql))
	source := e2ebackup.Digest(t, e.PG, app.DatabaseName)
	file := filepath.Join(e.Dir, "b.sql.zst")
	e.Backup(t, "create", "-f", file).RunOK()
	e.PG.MustPsql(t, app.DatabaseName, "DELETE FROM messages WHERE id > 100; CREATE TABLE after_backup (id int)")

	changed := e2ebackup.Digest(t, e.PG, app.DatabaseName)

	// Ctrl-C in the load: the tool asks the database whether the load's
	// transaction committed and says it; what it says is what holds.
	run := e.Backup(t, "restore", file, "--yes", "--no-safety-backup").Background()
	run.WaitFor("restoring "+file+" into piyasa_db", 3*time.Minute)
	time.Sleep(time.Second)
	run.Signal(syscall.SIGINT)
	res := run.ExitWithin(time.Minute)
	if res.Code != 130 || strings.Contains(res.Stderr, "context canceled") || !strings.Contains(res.Stderr, "to finish the restore, run it again: kubectl piyasa backup restore "+file) {
		t.Fatalf("exit %d:\n%s", res.Code, res.Stderr)
	}
	switch {
	case strings.Contains(res.Stderr, "error: interrupted at the end of the load: its transaction committed, piyasa_db holds the backup"):
		e2ebackup.SameDigest(t, "said committed", source, e2ebackup.Digest(t, e.PG, app.DatabaseName))
		e.PG.MustPsql(t, app.DatabaseName, "DELETE FROM messages WHERE id > 100; CREATE TABLE after_backup (id int)")
		changed = e2ebackup.Digest(t, e.PG, app.DatabaseName)
	case strings.Contains(res.Stderr, "error: interrupted during the load: its transaction did not commit, piyasa_db holds what it held before"):
		e2ebackup.SameDigest(t, "said not committed", changed, e2ebackup.Digest(t, e.PG, app.DatabaseName))
	default:
		t.Fatalf("the state of the load is not said:\n%s", res.Stderr)
	}
	if e2ebackup.LeaseExists(t, e.NS) {
		t.Fatal("an interrupted restore left the database lock")
	}

	run = e.Backup(t, "restore", file, "--yes", "--no-safety-backup").Background()
	run.WaitFor("restoring "+file+" into piyasa_db", 3*time.Minute)
	time.Sleep(time.Second)
	run.Signal(syscall.SIGKILL)
	run.ExitWithin(10 * time.Second)
	apiRec, workerRec := e2ebackup.RestoreAnnotations(t, e.NS)
	rec, err := app.ParseRestoreRecord(apiRec)
	if err != nil || workerRec != apiRec || rec.Backup != file || rec.Replicas[app.API] != 1 || rec.Replicas[app.Worker] != 2 {
		t.Fatalf("restore record after the kill: %q / %q (%v)", apiRec, workerRec, err)
	}
	if api, worker := e2ebackup.Replicas(t, e.NS); api != 0 || worker != 0 {
		t.Errorf("after the kill api=%d worker=%d, want the app stopped", api, worker)
	}
	// What on-call people see: diagnose names the interrupted restore and
	// gives the command that finishes it (the same restore again), and
	// proposes no worker scale.
	d := harness.Piyasa(t, "diagnose", "-n", e.NS, "--env", "dev", "-o", "json").ExpectCode(1)
	var rep struct {
		Findings []struct{ Code, Severity, Message, Fix string } `json:"findings"`
	}
	if err := json.Unmarshal([]byte(d.Stdout), &rep); err != nil {
		t.Fatalf("diagnose -o json: %v", err)
	}
	finish := rec.FinishCommand(e.NS)
	found := false
	for _, f := range rep.Findings {
		if f.Code == "PIY120" && strings.Contains(f.Message, file) && strings.Contains(f.Fix, finish) {
			found = true
		}
		if strings.Contains(f.Fix, "scale worker") {
			t.Errorf("%s proposes scaling the workers after an interrupted restore: %s", f.Code, f.Fix)
		}
	}
	if !found {
		t.Fatalf("diagnose does not name the interrupted restore with %q:\n%s", finish, d.Stdout)
	}
	// The finish command, as printed, works at once: the killed restore ran
	// on this machine, so its lock is not waited out.
	args := strings.Fields(strings.TrimPrefix(finish, "kubectl piyasa "))
	harness.Piyasa(t, args...).WithTimeout(4 * time.Minute).RunOK()
	e2ebackup.SameDigest(t, "after the re-run", source, e2ebackup.Digest(t, e.PG, app.DatabaseName))
	e2ebackup.WaitApp(t, e.NS, 1, 2)
	if a, w := e2ebackup.RestoreAnnotations(t, e.NS); a != "" || w != "" {
		t.Errorf("restore record left: %q %q", a, w)
	}
}
