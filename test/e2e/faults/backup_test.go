package faults_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/test/e2e/e2ebackup"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// backupEnv is a namespace whose postgres pod execs into a fresh, seeded PostgreSQL.
type backupEnv struct {
	ns, dir string
	pg      *harness.Postgres
}

// setupBackup seeds ~4 MB of rows that do not compress much (md5 text), so
// that a small file size limit is reached, and maps the postgres pod's exec;
// pathFirst holds fake tools.
func setupBackup(t *testing.T, pathFirst ...string) *backupEnv {
	t.Helper()
	ns := harness.Namespace(t, "faults")
	password := "pw-" + rand.String(16)
	pg := harness.StartPostgres(t, app.DatabaseUser, password, app.DatabaseName)
	pg.MustPsql(t, app.DatabaseName, `CREATE TABLE messages (id serial PRIMARY KEY, body text NOT NULL);
INSERT INTO messages (body) SELECT md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 50000) g;`)
	harness.ApplyYAML(t, ns, harness.DatabaseAppYAML(password, false))
	waitComponents(t, ns, app.API, app.Postgres)
	c, _ := app.LookupComponent(app.Postgres)
	pods, err := harness.Client(t).CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: c.Selector()})
	if err != nil || len(pods.Items) != 1 {
		t.Fatalf("postgres pod: %v (%d pods)", err, len(pods.Items))
	}
	pg.ClusterExecEnv(t, ns, pods.Items[0].Name, nil, pathFirst...)
	return &backupEnv{ns: ns, dir: t.TempDir(), pg: pg}
}

func (e *backupEnv) backup(t *testing.T, args ...string) *harness.Cmd {
	return harness.Piyasa(t, append(append([]string{"backup"}, args...), "--env", "dev", "-n", e.ns)...).WithTimeout(4 * time.Minute)
}

// TestBackupAPIServerKilledMidStream: the API server killed while pg_dump
// streams: exit 3 with one line saying the connection was lost, nothing
// under the final name and no temporary file; once the API server is back
// a rerun succeeds.
func TestBackupAPIServerKilledMidStream(t *testing.T) {
	// The first pg_dump sends part of the dump and stalls, as a long dump
	// does; later ones are the real pg_dump.
	marker := filepath.Join(t.TempDir(), "stalled-once")
	real := filepath.Join(harness.PostgresBinDir(), "pg_dump")
	fake := t.TempDir()
	script := fmt.Sprintf("#!/bin/sh\nif [ -e %q ]; then exec %q \"$@\"; fi\ntouch %q\n%q \"$@\" | head -c 300000\nsleep 60\n", marker, real, marker, real)
	if err := os.WriteFile(filepath.Join(fake, "pg_dump"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e := setupBackup(t, fake)
	b := start(t, e.backup(t, "create", "--dir", e.dir))
	deadline := time.Now().Add(2 * time.Minute)
	for {
		fs := e2ebackup.Files(t, e.dir)
		if len(fs) == 1 && strings.Contains(fs[0], ".partial-") {
			if fi, err := os.Stat(filepath.Join(e.dir, fs[0])); err == nil && fi.Size() > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no temporary file with data appeared: %v\nstderr:\n%s", fs, b.stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	harness.StopAPIServer(t)
	r := b.wait(2 * time.Minute)
	harness.StartAPIServer(t)
	expectCode(t, r, 3)
	errs := errorLines(r.Stderr)
	want := "error: cannot reach the cluster at " + harness.Env.Server + ": the connection was lost during the dump ("
	if len(errs) != 1 || !strings.HasPrefix(errs[0], want) || !strings.HasSuffix(errs[0], "); nothing was written") {
		t.Errorf("want one line %q...; stderr:\n%s", want, r.Stderr)
	}
	if strings.Contains(r.Stdout+r.Stderr, e.pg.Password) {
		t.Error("output shows the database password")
	}
	if fs := e2ebackup.Files(t, e.dir); len(fs) != 0 {
		t.Fatalf("the killed dump left %v", fs)
	}
	r = e.backup(t, "create", "--dir", e.dir).ExpectCode(0)
	name := filepath.Base(strings.TrimSpace(r.Stdout))
	if fs := e2ebackup.Files(t, e.dir); len(fs) != 2 || !strings.HasSuffix(name, ".sql.zst") {
		t.Fatalf("after the rerun: %v (stdout %q)", fs, r.Stdout)
	}
	e.backup(t, "verify", filepath.Join(e.dir, name)).ExpectCode(0)
}

// TestBackupTargetFull: the backup target fills up (a file size limit,
// ulimit -f, makes writes fail with EFBIG as a full disk does with ENOSPC):
// exit 1, the message names the backup's path and why, nothing is left.
func TestBackupTargetFull(t *testing.T) {
	e := setupBackup(t)
	file := filepath.Join(e.dir, "piyasa.sql")
	// 256 KiB: the plain dump is ~4 MB. bash's ulimit -f counts 1024-byte blocks.
	args := []string{"-c", `ulimit -f 256 && exec kubectl piyasa backup create -f "$0" --compress none --env dev -n "$1"`, file, e.ns}
	r := harness.Command(t, "bash", args...).WithTimeout(4 * time.Minute).Run()
	expectCode(t, r, 1)
	errs := errorLines(r.Stderr)
	want := "error: cannot write " + file + ": file too large; nothing was kept"
	if len(errs) != 1 || errs[0] != want {
		t.Errorf("want %q; stderr:\n%s", want, r.Stderr)
	}
	if fs := e2ebackup.Files(t, e.dir); len(fs) != 0 {
		t.Errorf("a full target kept %v", fs)
	}
	// With room, the same command works.
	e.backup(t, "create", "-f", file, "--compress", "none").ExpectCode(0)
}
