package backup_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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

// TestS3RoundTrip: create --to s3:// -> list --from -> verify --restore-test
// -> restore over the live database and into a new one, all from the object.
func TestS3RoundTrip(t *testing.T) {
	s3 := harness.StartS3(t, "backups")
	e := e2ebackup.Setup(t)
	source := e2ebackup.Digest(t, e.PG, app.DatabaseName)
	s3env := s3.Env()

	r := e.Backup(t, "create", "--to", "s3://backups/piyasa/nightly", "-o", "json").WithEnv(s3env...).RunOK()
	info := e2ebackup.ParseInfo(t, r.Stdout)
	loc := "s3://backups/piyasa/nightly/" + info.Name
	if info.Location != loc {
		t.Errorf("location %s, want %s", info.Location, loc)
	}
	if strings.Contains(r.Stdout+r.Stderr, s3.SecretKey) {
		t.Fatal("output shows the S3 secret key")
	}

	r = e.Backup(t, "list", "--from", "s3://backups/piyasa/nightly", "-o", "json").WithEnv(s3env...).RunOK()
	var list backup.BackupList
	if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Status != "ok" || list.Items[0].Info == nil || list.Items[0].Size != info.StoredBytes {
		t.Fatalf("list: %s", r.Stdout)
	}

	e.Backup(t, "verify", loc, "--restore-test").WithEnv(s3env...).RunOK()
	if s := scratchDatabases(t, e.PG); s != "" {
		t.Errorf("scratch databases left: %s", s)
	}

	e.PG.MustPsql(t, app.DatabaseName, "DELETE FROM messages; DELETE FROM \"Audit Log\"")
	e.Backup(t, "restore", loc, "--yes").WithEnv(s3env...).RunOK()
	e2ebackup.SameDigest(t, "after restore from S3", source, e2ebackup.Digest(t, e.PG, app.DatabaseName))
	e2ebackup.WaitApp(t, e.NS, 1, 2)
	e.Backup(t, "restore", loc, "--to-database", "from_s3").WithEnv(s3env...).RunOK()
	e2ebackup.SameDigest(t, "from_s3", source, e2ebackup.Digest(t, e.PG, "from_s3"))

	// Flags work as well as the variables (credentials are never printed).
	r = e.Backup(t, "list", "--from", "s3://backups/piyasa/nightly", "--s3-endpoint", s3.Endpoint,
		"--s3-access-key", s3.AccessKey, "--s3-secret-key", s3.SecretKey).RunOK()
	if !strings.Contains(r.Stdout, info.Name) || !strings.Contains(r.Stdout, "pre-restore") {
		t.Errorf("list by flags:\n%s", r.Stdout)
	}
	// Wrong credentials: a failure that names no secret.
	r = e.Backup(t, "list", "--from", "s3://backups/piyasa/nightly").WithEnv(append(s3env, "AWS_SECRET_ACCESS_KEY=wrong-secret-value")...).ExpectCode(1)
	if strings.Contains(r.Stderr, "wrong-secret-value") || strings.Contains(r.Stderr, s3.SecretKey) {
		t.Fatal("error shows the S3 secret key")
	}
}

// TestS3FailedDumpLeavesNoObject: a pg_dump that dies mid-stream, after
// parts of the multipart upload were sent, leaves no object and no
// incomplete upload.
func TestS3FailedDumpLeavesNoObject(t *testing.T) {
	s3 := harness.StartS3(t, "backups")
	// Cut after 2 parts' worth of data, then wait a little so the test sees the upload's parts.
	fake := e2ebackup.FakeTool(t, "pg_dump", fmt.Sprintf("#!/bin/sh\n{ %q \"$@\"; %q \"$@\"; %q \"$@\"; %q \"$@\"; } | head -c %d\nsleep 4\nexit 1\n",
		realTool("pg_dump"), realTool("pg_dump"), realTool("pg_dump"), realTool("pg_dump"), 2*backup.PartSize+12345))
	e := e2ebackup.Setup(t, fake)
	bucket := filepath.Join(s3.Root, "backups")
	var stdout, stderr bytes.Buffer
	cmd := e.Backup(t, "create", "--to", "s3://backups/piyasa", "--compress", "none").WithEnv(s3.Env()...).Start(&stdout, &stderr)
	sawParts := false
	deadline := time.Now().Add(60 * time.Second)
	for !sawParts && time.Now().Before(deadline) {
		sawParts = len(e2ebackup.Objects(t, bucket)) > 0
		time.Sleep(50 * time.Millisecond)
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit %v, want 1; stderr: %s", err, stderr.String())
	}
	if !sawParts {
		t.Errorf("no multipart upload was seen in the bucket while the dump ran")
	}
	if !strings.Contains(stderr.String(), "nothing written") {
		t.Errorf("stderr: %s", stderr.String())
	}
	r := e.Backup(t, "list", "--from", "s3://backups/piyasa", "-o", "json").WithEnv(s3.Env()...).RunOK()
	if !strings.Contains(r.Stdout, `"items": []`) {
		t.Errorf("objects listed after a failed dump: %s", r.Stdout)
	}
	if left := e2ebackup.Objects(t, bucket); len(left) != 0 {
		t.Errorf("left in the bucket (object or upload parts): %v", left)
	}
}
