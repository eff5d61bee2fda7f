package backup_test

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/test/e2e/e2ebackup"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

func realTool(name string) string { return filepath.Join(harness.PostgresBinDir(), name) }

// TestDumpDiesMidStream: a pg_dump that dies half-way (exit 1), and one
// whose output is cut while it reports success, leave no file and exit 1.
func TestDumpDiesMidStream(t *testing.T) {
	for _, tc := range []struct {
		name, rc, want string
	}{
		{"exit 1", "1", "pg_dump failed in the pod (exit status 1)"},
		{"cut, exit 0", "0", "truncated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := e2ebackup.FakeTool(t, "pg_dump", fmt.Sprintf("#!/bin/sh\n%q \"$@\" | head -c 300000\necho 'pg_dump: error: connection lost' >&2\nexit %s\n", realTool("pg_dump"), tc.rc))
			e := e2ebackup.Setup(t, fake)
			r := e.Backup(t, "create", "--dir", e.Dir).ExpectCode(1)
			if !strings.Contains(r.Stderr, tc.want) || !strings.Contains(r.Stderr, "nothing written") {
				t.Errorf("stderr: %s", r.Stderr)
			}
			e2ebackup.NoSecret(t, e, r)
			if fs := e2ebackup.Files(t, e.Dir); len(fs) != 0 {
				t.Errorf("a failed dump left %v", fs)
			}
		})
	}
}

// TestInterruptLeavesNothing: Ctrl-C during a dump exits 130 and removes the temporary file.
func TestInterruptLeavesNothing(t *testing.T) {
	fake := e2ebackup.FakeTool(t, "pg_dump", fmt.Sprintf("#!/bin/sh\n%q \"$@\" | head -c 300000\nsleep 30\n", realTool("pg_dump")))
	e := e2ebackup.Setup(t, fake)
	var stderr bytes.Buffer
	cmd := e.Backup(t, "create", "--dir", e.Dir).Start(&bytes.Buffer{}, &stderr)
	deadline := time.Now().Add(60 * time.Second)
	for {
		fs := e2ebackup.Files(t, e.Dir)
		if len(fs) == 1 && strings.Contains(fs[0], ".partial-") {
			if fi, err := os.Stat(filepath.Join(e.Dir, fs[0])); err == nil && fi.Size() > 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatalf("no temporary file appeared: %v", fs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 130 {
		t.Fatalf("exit %v, want 130; stderr: %s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "nothing was written") || !strings.Contains(stderr.String(), "the database was not changed") {
		t.Errorf("the message does not say what state is left: %s", stderr.String())
	}
	if fs := e2ebackup.Files(t, e.Dir); len(fs) != 0 {
		t.Errorf("Ctrl-C left %v", fs)
	}
}

// TestFlippedByteFailsVerify: one changed byte fails verify and restore, which changes nothing.
func TestFlippedByteFailsVerify(t *testing.T) {
	e := e2ebackup.Setup(t)
	file := filepath.Join(e.Dir, "b.sql.zst")
	e.Backup(t, "create", "-f", file).RunOK()
	e.Backup(t, "verify", file).RunOK()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x01
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	r := e.Backup(t, "verify", file).ExpectCode(1)
	if !strings.Contains(r.Stderr, "sha256") || !strings.Contains(r.Stderr, "not a good backup") {
		t.Errorf("verify stderr: %s", r.Stderr)
	}
	r = e.Backup(t, "verify", file, "-o", "json").ExpectCode(1)
	if !strings.Contains(r.Stdout, `"ok": false`) {
		t.Errorf("verify -o json: %s", r.Stdout)
	}
	before := e2ebackup.Digest(t, e.PG, app.DatabaseName)
	r = e.Backup(t, "restore", file, "--yes").ExpectCode(1)
	if !strings.Contains(r.Stderr, "nothing was changed") {
		t.Errorf("restore stderr: %s", r.Stderr)
	}
	e2ebackup.SameDigest(t, "after a refused restore", before, e2ebackup.Digest(t, e.PG, app.DatabaseName))
	if api, worker := e2ebackup.Replicas(t, e.NS); api != 1 || worker != 2 {
		t.Errorf("refused restore scaled the app: api=%d worker=%d", api, worker)
	}
	// Without its metadata a file is no backup.
	os.Remove(file + ".json")
	r = e.Backup(t, "verify", file).ExpectCode(1)
	if !strings.Contains(r.Stderr, "no metadata") {
		t.Errorf("verify without metadata: %s", r.Stderr)
	}
}

// TestRestoreFailsHalfWay: psql fails in the middle of the restore. The app
// stays scaled down, the database keeps what it had (one transaction), the
// message names the state and the command that restores the safety backup,
// and that command brings the database and the app back.
func TestRestoreFailsHalfWay(t *testing.T) {
	flag := filepath.Join(t.TempDir(), "fail")
	psql := fmt.Sprintf(`#!/bin/sh
case " $* " in *" --single-transaction "*)
  if [ -e %q ]; then
    { head -c 400000; printf '\nSELECT piyasa_no_such_function();\n'; cat; } | %q "$@"
    exit $?
  fi;;
esac
exec %q "$@"
`, flag, realTool("psql"), realTool("psql"))
	e := e2ebackup.Setup(t, e2ebackup.FakeTool(t, "psql", psql))
	file := filepath.Join(e.Dir, "b.sql.zst")
	e.Backup(t, "create", "-f", file).RunOK()
	e.PG.MustPsql(t, app.DatabaseName, "DELETE FROM messages WHERE id > 30000; INSERT INTO settings VALUES ('after', '{}')")
	changed := e2ebackup.Digest(t, e.PG, app.DatabaseName)
	if err := os.WriteFile(flag, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The typed confirmation: a wrong name changes nothing.
	r := e.Backup(t, "restore", file).WithStdin(strings.NewReader("wrong\n")).ExpectCode(2)
	if !strings.Contains(r.Stderr, "not confirmed") {
		t.Errorf("stderr: %s", r.Stderr)
	}
	r = e.Backup(t, "restore", file).WithStdin(strings.NewReader(e.NS + "\n")).ExpectCode(1)
	for _, want := range []string{"restore failed", "rolled its single transaction back", "left scaled down (were api=1 worker=2)", "kubectl piyasa backup restore "} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
		}
	}
	e2ebackup.NoSecret(t, e, r)
	if api, worker := e2ebackup.Replicas(t, e.NS); api != 0 || worker != 0 {
		t.Errorf("after a failed restore api=%d worker=%d, want both 0", api, worker)
	}
	e2ebackup.WaitApp(t, e.NS, 0, 0)
	e2ebackup.SameDigest(t, "after a failed restore", changed, e2ebackup.Digest(t, e.PG, app.DatabaseName))

	// The hinted command restores the safety backup and restarts the app.
	m := regexp.MustCompile(`kubectl piyasa backup restore (\S+) -n (\S+) --env (\S+) --yes --no-safety-backup`).FindStringSubmatch(r.Stderr)
	if m == nil {
		t.Fatalf("no safety restore command in:\n%s", r.Stderr)
	}
	os.Remove(flag)
	harness.Piyasa(t, "backup", "restore", m[1], "-n", m[2], "--env", m[3], "--yes", "--no-safety-backup").RunOK()
	e2ebackup.SameDigest(t, "after restoring the safety backup", changed, e2ebackup.Digest(t, e.PG, app.DatabaseName))
	e2ebackup.WaitApp(t, e.NS, 1, 2)
}
