package pitr_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/backup"
	"github.com/piyasa/kubectl-piyasa/test/e2e/e2ebackup"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// runBaseCronScript runs the base backup CronJob's script locally with sh
// against pg, as the pod of namespace piyasa-test.
func runBaseCronScript(t *testing.T, pg *harness.Postgres, root string, pathFirst ...string) (string, error) {
	t.Helper()
	return runBaseCronScriptIn(t, pg, root, "piyasa-test", pathFirst...)
}

// runBaseCronScriptIn runs the base backup CronJob's script as the pod of namespace ns.
func runBaseCronScriptIn(t *testing.T, pg *harness.Postgres, root, ns string, pathFirst ...string) (string, error) {
	t.Helper()
	cmd := exec.Command("sh", "-c", backup.BaseBackupCronScript)
	path := strings.Join(append(pathFirst, pg.BinDir, os.Getenv("PATH")), ":")
	cmd.Env = append(os.Environ(), append(pg.Env(), "PGDATABASE="+app.DatabaseName, "BACKUP_DIR="+root, "POD_NAMESPACE="+ns,
		"KEEP_BASE=1", "PATH="+path, "TMPDIR="+t.TempDir())...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestBaseBackupCronScript: the base backup CronJob's script against a real
// PostgreSQL (its pg_hba.conf the manifests' app.PGHBALines, which it parses
// without an error): a pg_basebackup that fails half-way keeps nothing and
// removes nothing; a good run keeps base/<name>.tar.gz with its sha256 file
// and a BackupInfo whose sizes and sums are the file's and whose WAL range is
// the backup_label's, and its retention (KEEP_BASE=1) removes only its own
// older scheduled copy, never a pinned or a manual one.
func TestBaseBackupCronScript(t *testing.T) {
	pg := harness.StartPostgres(t, app.DatabaseUser, "cron-pw", app.DatabaseName, harness.WithWALArchive(0))
	pg.MustPsql(t, app.DatabaseName, e2ebackup.SeedSQL)
	hba := filepath.Join(pg.Dir, "pg_hba.conf")
	if err := os.WriteFile(hba, []byte(strings.Join(app.PGHBALines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pg.MustPsql(t, "postgres", "ALTER SYSTEM SET hba_file = '"+hba+"'")
	if err := pg.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := pg.Start(); err != nil {
		t.Fatal(err)
	}
	if got := pg.MustPsql(t, "postgres", "SELECT count(*) FILTER (WHERE error IS NULL) || ' ' || count(*) || ' ' || current_setting('hba_file') FROM pg_hba_file_rules"); strings.TrimSpace(got) != fmt.Sprintf("%d %d %s", len(app.PGHBALines), len(app.PGHBALines), hba) {
		t.Fatalf("pg_hba_file_rules: %q", got)
	}
	root := t.TempDir()
	dir := filepath.Join(root, backup.InClusterBaseDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	others := map[string]string{
		"piyasa_db-piyasa-test-20200101T033000Z.tar.gz": `{"backupKind":"scheduled"}`,
		"piyasa_db-piyasa-test-20190101T033000Z.tar.gz": `{"backupKind":"scheduled","pinned":true}`,
		"piyasa_db-piyasa-test-20190102T033000Z.tar.gz": `{"backupKind":"manual"}`,
	}
	for n, meta := range others {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("old"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n+".json"), []byte(meta), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	fail := e2ebackup.FakeTool(t, "pg_basebackup", fmt.Sprintf("#!/bin/sh\n%q \"$@\" | head -c 100000\nexit 1\n", filepath.Join(harness.PostgresBinDir(), "pg_basebackup")))
	out, err := runBaseCronScript(t, pg, root, fail)
	if err == nil || !strings.Contains(out, "base backup FAILED: pg_basebackup exit status 1") {
		t.Fatalf("failing pg_basebackup: err %v\n%s", err, out)
	}
	if got := e2ebackup.Files(t, dir); len(got) != 2*len(others) {
		t.Fatalf("after a failed run: %v", got)
	}
	out, err = runBaseCronScript(t, pg, root)
	if err != nil {
		t.Fatalf("base backup script: %v\n%s", err, out)
	}
	var name string
	for _, f := range e2ebackup.Files(t, dir) {
		if _, old := others[strings.TrimSuffix(f, ".json")]; !old && strings.HasSuffix(f, ".tar.gz") {
			name = f
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "piyasa_db-piyasa-test-20200101T033000Z.tar.gz")); !os.IsNotExist(err) || name == "" {
		t.Fatalf("retention (KEEP_BASE=1) or the new backup: %v %v\n%s", e2ebackup.Files(t, dir), err, out)
	}
	if got := e2ebackup.Files(t, dir); len(got) != 2*2+3 {
		t.Errorf("files %v: want the pinned and the manual copies kept", got)
	}
	checkBaseCronBackup(t, dir, name)
}

// checkBaseCronBackup checks a base backup the CronJob's script wrote.
func checkBaseCronBackup(t *testing.T, dir, name string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	info, err := backup.ParseInfo(raw)
	if err != nil {
		t.Fatalf("%s.json: %v\n%s", name, err, raw)
	}
	sum := sha256.Sum256(data)
	side, _ := os.ReadFile(filepath.Join(dir, name+".sha256"))
	switch {
	case info.StoredBytes != int64(len(data)) || info.StoredSHA256 != hex.EncodeToString(sum[:]):
		t.Errorf("BackupInfo stored %d %s, file %d %x", info.StoredBytes, info.StoredSHA256, len(data), sum)
	case string(side) != info.StoredSHA256+"  "+name+"\n":
		t.Errorf("sha256 file %q", side)
	case info.Format != backup.FormatBaseBackup || info.BackupKind != backup.KindScheduled || info.Compression != "gzip" || info.Namespace != "piyasa-test":
		t.Errorf("BackupInfo %+v", info)
	case info.WAL == nil || info.WAL.Timeline != 1 || len(info.WAL.StartSegment) != 24 || info.WAL.StartLSN == "" || info.WAL.EndLSN == "":
		t.Errorf("WAL %+v", info.WAL)
	case !strings.HasPrefix(info.ServerVersion, "15") || info.RawBytes <= info.StoredBytes:
		t.Errorf("server %q raw %d stored %d", info.ServerVersion, info.RawBytes, info.StoredBytes)
	}
	label, err := exec.Command("sh", "-c", `gzip -dc "$1" | tar -xOf - backup_label`, "x", filepath.Join(dir, name)).Output()
	if err != nil || info.WAL == nil || !strings.Contains(string(label), "START WAL LOCATION: "+info.WAL.StartLSN+" (file "+info.WAL.StartSegment+")") {
		t.Errorf("backup_label %v:\n%s", err, label)
	}
}

// TestPITRFromBackupVolume: a base backup the CronJob's script wrote onto the
// backup volume, writes every 100 ms, then restore --to-time without --from:
// it lists the volume through the browse pod, the restore Job mounts it and
// lays the base backup down from it, the WAL comes from the archive volume,
// and the database holds exactly the rows up to the target.
func TestPITRFromBackupVolume(t *testing.T) {
	e := setupPITR(t)
	pvcDir := t.TempDir()
	claim := "dev-" + app.BackupPVC
	harness.ApplyYAML(t, e.NS, fmt.Sprintf(pvYAML, e.NS+"-"+claim, e.NS, claim, claim, e.NS+"-"+claim))
	e.PG.ClusterExecEnv(t, e.NS, e.Pod, map[string]string{"BACKUP_DIR": pvcDir})
	w := startWriter(t, e.PG)
	time.Sleep(2 * time.Second)
	if out, err := runBaseCronScriptIn(t, e.PG, pvcDir, e.NS); err != nil {
		w.Stop()
		t.Fatalf("base backup script: %v\n%s", err, out)
	}
	metas, _ := filepath.Glob(filepath.Join(pvcDir, backup.InClusterBaseDir, "*.tar.gz.json"))
	if len(metas) != 1 {
		w.Stop()
		t.Fatalf("BackupInfos on the volume: %v", metas)
	}
	raw, _ := os.ReadFile(metas[0])
	info, err := backup.ParseInfo(raw)
	if err != nil {
		w.Stop()
		t.Fatal(err)
	}
	time.Sleep(4 * time.Second)
	ticks := w.Stop()
	switchAndArchive(t, e.PG)
	target := between(t, ticks, info.EndTime.Add(time.Second))
	ts := target.Format(time.RFC3339Nano)
	want := idsText(t, e.PG, fmt.Sprintf("WHERE at <= '%s'", ts))
	if all := idsText(t, e.PG, ""); want == all || want == "" {
		t.Fatalf("the target %s does not split the rows", ts)
	}
	plan := e.Backup(t, "restore", "--to-time", ts, "--dry-run").RunOK()
	if !strings.Contains(plan.Stdout, "pvc:"+backup.InClusterBaseDir+"/"+info.Name) {
		t.Errorf("the plan does not name the base backup of the volume:\n%s", plan.Stdout)
	}
	r := e.Backup(t, "restore", "--to-time", ts, "--yes").Run()
	if r.Code != 0 {
		t.Fatalf("restore exit %d:\n%s\n%s\nserver log:\n%s", r.Code, r.Stdout, r.Stderr, tail(e.PG.ServerLog(), 30))
	}
	e2ebackup.NoSecret(t, e, r)
	t.Logf("restore:\n%s%s", r.Stderr, r.Stdout)
	if got := idsText(t, e.PG, ""); got != want {
		t.Errorf("rows after the restore to %s:\n%s\nwant the rows up to it:\n%s", ts, got, want)
	}
	if !strings.Contains(r.Stdout, "timeline 2") {
		t.Errorf("stdout: %s", r.Stdout)
	}
	e2ebackup.WaitApp(t, e.NS, 1, 2)
}
