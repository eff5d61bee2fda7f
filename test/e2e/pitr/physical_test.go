package pitr_test

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/backup"
	"github.com/piyasa/kubectl-piyasa/test/e2e/e2ebackup"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// TestPhysicalBaseBackupRecovers: `backup create --physical --dir` through
// the real pg_basebackup of an archiving PostgreSQL gives a checked tar and
// its BackupInfo (WAL range, row counts); verify and verify --restore-test
// pass; list marks it; and a second PostgreSQL started on the extracted tar
// with restore_command from the archive replays the writes made after the
// backup and holds, row by row, what the source holds.
func TestPhysicalBaseBackupRecovers(t *testing.T) {
	e := e2ebackup.SetupPG(t, []harness.PostgresOption{harness.WithWALArchive(1)}, nil)
	atBackup := e2ebackup.Digest(t, e.PG, app.DatabaseName)
	dir := filepath.Join(e.Dir, "base")
	r := e.Backup(t, "create", "--physical", "--dir", dir, "-o", "json").RunOK()
	e2ebackup.NoSecret(t, e, r)
	info := e2ebackup.ParseInfo(t, r.Stdout)
	if info.Format != backup.FormatBaseBackup || info.WAL == nil || info.WAL.Timeline != 1 || info.WAL.EndLSN == "" ||
		len(info.WAL.StartSegment) != 24 || !strings.HasSuffix(info.Name, ".tar.zst") || info.Compression != "zstd" {
		t.Fatalf("info %+v wal %+v", info, info.WAL)
	}
	if n := info.TableMap()["public.messages"]; n != 40000 || info.AlembicRevision != "3f2a1b9c0d4e" || !strings.HasPrefix(info.ServerVersion, "15") {
		t.Errorf("messages %d, alembic %q, server %q", n, info.AlembicRevision, info.ServerVersion)
	}
	if got := e2ebackup.Files(t, dir); len(got) != 2 {
		t.Errorf("the directory holds %v, want the tar and its .json", got)
	}
	t.Logf("base backup: %d bytes of tar stored as %d (zstd in the pod), WAL %s..%s", info.RawBytes, info.StoredBytes, info.WAL.StartLSN, info.WAL.EndLSN)

	e.Backup(t, "verify", info.Location).RunOK()
	r = e.Backup(t, "verify", info.Location, "--restore-test").RunOK()
	if !strings.Contains(r.Stdout, "restore test") {
		t.Errorf("verify --restore-test: %s", r.Stdout)
	}
	// The restore test can fail: a BackupInfo whose count is not the data's.
	meta := info.Location + backup.MetadataSuffix
	good, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	bad := strings.Replace(string(good), `"name": "public.messages",
      "rows": 40000`, `"name": "public.messages",
      "rows": 39999`, 1)
	if bad == string(good) {
		t.Fatalf("no messages count in %s", good)
	}
	if err := os.WriteFile(meta, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.Backup(t, "verify", info.Location, "--restore-test").ExpectCode(1)
	if !strings.Contains(r.Stderr, "table public.messages has 40000 rows in the restored base backup, the metadata says 39999") {
		t.Errorf("verify --restore-test of a wrong count: %s", r.Stderr)
	}
	if err := os.WriteFile(meta, good, 0o600); err != nil {
		t.Fatal(err)
	}
	r = e.Backup(t, "list", "--dir", dir).RunOK()
	if !strings.Contains(r.Stdout, info.Name) || !strings.Contains(r.Stdout, "manual,base") {
		t.Errorf("list does not mark the base backup:\n%s", r.Stdout)
	}
	e.Backup(t, "restore", info.Location, "--yes").ExpectCode(2)

	// Writes after the backup reach the archive; recovery replays them.
	e.PG.MustPsql(t, app.DatabaseName, `INSERT INTO users (name) VALUES ('after the base backup'); DELETE FROM settings WHERE key = 'empty'`)
	last := strings.TrimSpace(e.PG.MustPsql(t, app.DatabaseName, "SELECT pg_walfile_name(pg_switch_wal())"))
	waitFile(t, filepath.Join(e.PG.WALArchive, last))
	now := e2ebackup.Digest(t, e.PG, app.DatabaseName)
	if now["users"] == atBackup["users"] {
		t.Fatal("the writes after the backup changed nothing")
	}
	rec := startRecovered(t, e.PG, info.Location, e.PG.WALArchive)
	e2ebackup.SameDigest(t, "recovered from the base backup and the archive", now, e2ebackup.Digest(t, rec, app.DatabaseName))
}

// TestPhysicalToS3: a base backup written to the real S3 server is listed,
// marked and verified from there.
func TestPhysicalToS3(t *testing.T) {
	s3 := harness.StartS3(t, "backups")
	e := e2ebackup.SetupPG(t, []harness.PostgresOption{harness.WithWALArchive(1)}, nil)
	r := e.Backup(t, "create", "--physical", "--to", "s3://backups/piyasa/base", "--compress", "gzip", "-o", "json").WithEnv(s3.Env()...).RunOK()
	info := e2ebackup.ParseInfo(t, r.Stdout)
	if info.Location != "s3://backups/piyasa/base/"+info.Name || !strings.HasSuffix(info.Name, ".tar.gz") || info.WAL == nil {
		t.Fatalf("info %+v", info)
	}
	r = e.Backup(t, "list", "--from", "s3://backups/piyasa/base", "-o", "json").WithEnv(s3.Env()...).RunOK()
	var list backup.BackupList
	if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Status != "ok" || list.Items[0].Info == nil || list.Items[0].Info.Format != backup.FormatBaseBackup {
		t.Fatalf("list: %s", r.Stdout)
	}
	e.Backup(t, "verify", info.Location).WithEnv(s3.Env()...).RunOK()
	for _, o := range e2ebackup.Objects(t, filepath.Join(s3.Root, "backups")) {
		if !strings.HasPrefix(o, "piyasa/base/"+info.Name) {
			t.Errorf("unexpected object %s", o)
		}
	}
}

// TestPhysicalCutStreamLeavesNothing: a pg_basebackup whose output is cut
// (the real one, its stream ended after 200 kB while the pipeline exits 0)
// and one killed in the middle leave nothing under the final name, exit 1.
func TestPhysicalCutStreamLeavesNothing(t *testing.T) {
	for name, tc := range map[string]struct{ script, want string }{
		"cut":    {"#!/bin/sh\n\"$REAL_PG_BASEBACKUP\" \"$@\" | head -c 200000\n", "zstd decompression failed: unexpected EOF"},
		"killed": {"#!/bin/sh\n\"$REAL_PG_BASEBACKUP\" \"$@\" | head -c 200000\nkill -9 $$\n", "pg_basebackup failed in the pod (exit status 137)"},
	} {
		t.Run(name, func(t *testing.T) {
			bin := harness.PostgresBinDir()
			fake := e2ebackup.FakeTool(t, "pg_basebackup", tc.script)
			e := e2ebackup.SetupPG(t, []harness.PostgresOption{harness.WithWALArchive(1)},
				map[string]string{"REAL_PG_BASEBACKUP": filepath.Join(bin, "pg_basebackup")}, fake)
			dir := filepath.Join(e.Dir, "base")
			r := e.Backup(t, "create", "--physical", "--dir", dir).ExpectCode(1)
			if !strings.Contains(r.Stderr, "nothing written") || !strings.Contains(r.Stderr, tc.want) {
				t.Errorf("stderr: %s", r.Stderr)
			}
			if got := e2ebackup.Files(t, dir); len(got) != 0 {
				t.Errorf("left %v", got)
			}
		})
	}
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
	}
	t.Fatalf("%s did not appear in 30s", path)
}

// startRecovered extracts the zstd base backup into a new data directory,
// sets restore_command to copy from archive, starts a second PostgreSQL on
// it and waits until recovery ended; the server stops when the test ends.
func startRecovered(t *testing.T, src *harness.Postgres, tarPath, archive string) *harness.Postgres {
	t.Helper()
	dir, err := os.MkdirTemp("", "piyasa-recovered-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data := filepath.Join(dir, "data")
	extractZstdTar(t, tarPath, data)
	conf := fmt.Sprintf("\nrestore_command = 'cp \"%s/%%f\" \"%%p\"'\n", archive)
	appendFile(t, filepath.Join(data, "postgresql.conf"), conf)
	appendFile(t, filepath.Join(data, "recovery.signal"), "")
	cred := chownTree(t, dir)
	port, err := harness.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	pgctl := func(args ...string) error {
		cmd := exec.Command(filepath.Join(src.BinDir, "pg_ctl"), args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			return fmt.Errorf("pg_ctl %v: %v\n%s\n%s", args, err, out, log)
		}
		return nil
	}
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c archive_mode=off", port, dir)
	if err := pgctl("-D", data, "-o", opts, "-l", filepath.Join(dir, "log"), "-w", "-t", "120", "start"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pgctl("-D", data, "-m", "fast", "-w", "stop") })
	rec := &harness.Postgres{BinDir: src.BinDir, Dir: dir, Host: "127.0.0.1", Port: port, User: src.User, Password: src.Password, Data: data}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if out, err := rec.Psql("postgres", "SELECT pg_is_in_recovery()"); err == nil && out == "f" {
			return rec
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "log"))
			t.Fatalf("the recovered server did not end recovery in 2 minutes:\n%s", log)
		}
	}
}

func extractZstdTar(t *testing.T, path, dest string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := zstd.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dest, filepath.Clean(h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o700); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
				t.Fatal(err)
			}
			w, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(w, tr); err != nil {
				t.Fatal(err)
			}
			w.Close()
		default:
			t.Fatalf("unexpected tar entry %s (%c)", h.Name, h.Typeflag)
		}
	}
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.WriteString(f, text); err != nil {
		t.Fatal(err)
	}
}

// chownTree gives dir to the postgres account when the test runs as root
// (PostgreSQL refuses root) and returns the credential to run the server with.
func chownTree(t *testing.T, dir string) *syscall.Credential {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	_ = filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			err = os.Chown(p, uid, gid)
		}
		return err
	})
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}
