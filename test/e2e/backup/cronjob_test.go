package backup_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	"sigs.k8s.io/yaml"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/test/e2e/e2ebackup"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// cronJobScript returns the backup CronJob's shell script from the manifests.
func cronJobScript(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "manifests", "base", "backup.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		if !strings.Contains(doc, "kind: CronJob") {
			continue
		}
		var cj batchv1.CronJob
		if err := yaml.Unmarshal([]byte(doc), &cj); err != nil {
			t.Fatal(err)
		}
		cmd := cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Command
		if len(cmd) != 3 || cmd[0] != "/bin/sh" || cmd[1] != "-c" {
			t.Fatalf("CronJob command %v", cmd)
		}
		return cmd[2]
	}
	t.Fatal("no CronJob in manifests/base/backup.yaml")
	return ""
}

// runCronScript runs the CronJob's script locally with shell sh against pg.
func runCronScript(t *testing.T, shell string, pg *harness.Postgres, root string, pathFirst ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(shell, "-c", cronJobScript(t))
	path := strings.Join(append(pathFirst, pg.BinDir, os.Getenv("PATH")), ":")
	cmd.Env = append(os.Environ(), append(pg.Env(), "PGDATABASE="+app.DatabaseName, "BACKUP_DIR="+root, "POD_NAMESPACE=piyasa-test",
		"KEEP_DAILY=3", "PATH="+path, "TMPDIR="+t.TempDir())...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func dailyBackups(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	for _, f := range e2ebackup.Files(t, filepath.Join(root, "daily")) {
		if strings.HasSuffix(f, ".sql.gz") {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// TestCronJobScript runs the manifests' CronJob script (under dash and
// bash) against a real PostgreSQL: its backup passes `backup verify`, a
// failing pg_dump keeps nothing and prunes nothing, and retention keeps the
// newest KEEP_DAILY backups whatever their age, counting and removing only
// its own unpinned scheduled copies (a pinned one, one of another kind or
// another namespace, a hand-made one in the PVC are neither counted nor removed).
func TestCronJobScript(t *testing.T) {
	pg := harness.StartPostgres(t, app.DatabaseUser, "cron-pw", app.DatabaseName)
	pg.MustPsql(t, app.DatabaseName, e2ebackup.SeedSQL)
	for _, shell := range []string{"sh", "bash"} {
		t.Run(shell, func(t *testing.T) {
			root := t.TempDir()
			daily := filepath.Join(root, "daily")
			if err := os.MkdirAll(daily, 0o755); err != nil {
				t.Fatal(err)
			}
			// Old backups, older than any age limit.
			for i := 1; i <= 4; i++ {
				n := fmt.Sprintf("piyasa_db-piyasa-test-2020010%dT020000Z.sql.gz", i)
				for _, f := range []string{n, n + ".json", n + ".sha256"} {
					if err := os.WriteFile(filepath.Join(daily, f), []byte("old"), 0o600); err != nil {
						t.Fatal(err)
					}
				}
			}
			// Copies the job did not write, or must keep, older than every other.
			foreign := map[string]string{
				"piyasa_db-piyasa-test-20190101T020000Z.sql.gz":             `{"backupKind":"scheduled","pinned":true}`,
				"piyasa_db-piyasa-test-20190102T020000Z.sql.gz":             `{"backupKind": "pre-migration"}`,
				"piyasa_db-piyasa-test-20190103T020000Z-pre-restore.sql.gz": `{}`,
				"piyasa_db-other-ns-20190104T020000Z.sql.gz":                `{}`,
				"by-hand.sql.gz": `{}`,
			}
			for n, meta := range foreign {
				if err := os.WriteFile(filepath.Join(daily, n), []byte("kept"), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(daily, n+".json"), []byte(meta), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			// A failing pg_dump: nothing kept, nothing pruned.
			fail := e2ebackup.FakeTool(t, "pg_dump", fmt.Sprintf("#!/bin/sh\n%q \"$@\" | head -c 100000\nexit 1\n", realTool("pg_dump")))
			out, err := runCronScript(t, shell, pg, root, fail)
			if err == nil || !strings.Contains(out, "backup FAILED") {
				t.Fatalf("failing pg_dump: err %v\n%s", err, out)
			}
			if got := dailyBackups(t, root); len(got) != 4+len(foreign) {
				t.Fatalf("after a failed run: %v", got)
			}
			for _, f := range e2ebackup.Files(t, daily) {
				if strings.Contains(f, "partial") {
					t.Errorf("left %s", f)
				}
			}
			// A good run: the backup with its sha256 and BackupInfo; retention keeps the newest 3.
			out, err = runCronScript(t, shell, pg, root)
			if err != nil {
				t.Fatalf("cron script: %v\n%s", err, out)
			}
			var got []string
			for _, f := range dailyBackups(t, root) {
				if _, ok := foreign[f]; !ok {
					got = append(got, f)
				}
			}
			if len(got) != 3 || got[0] != "piyasa_db-piyasa-test-20200103T020000Z.sql.gz" || strings.Contains(got[2], "2020") {
				t.Fatalf("after retention: %v\n%s", got, out)
			}
			for n := range foreign {
				if _, err := os.Stat(filepath.Join(daily, n)); err != nil {
					t.Errorf("retention removed %s, which it must not count: %v\n%s", n, err, out)
				}
			}
			if raw, err := os.ReadFile(filepath.Join(daily, got[2]+".json")); err != nil || !strings.Contains(string(raw), `"backupKind":"scheduled"`) {
				t.Errorf("the new backup's BackupInfo lacks backupKind scheduled: %v %s", err, raw)
			}
			newest := filepath.Join(daily, got[2])
			if _, err := os.Stat(newest + ".sha256"); err != nil {
				t.Error(err)
			}
			r := harness.Piyasa(t, "backup", "verify", newest).RunOK()
			if !strings.Contains(r.Stdout, "OK") {
				t.Errorf("verify: %s", r.Stdout)
			}
			sha := exec.Command("sha256sum", "-c", filepath.Base(newest)+".sha256")
			sha.Dir = daily
			if o, err := sha.CombinedOutput(); err != nil {
				t.Errorf("sha256sum -c: %v %s", err, o)
			}
		})
	}
}
