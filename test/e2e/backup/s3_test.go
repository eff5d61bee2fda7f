package backup_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/backup"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// objects lists the files under a bucket directory of versitygw's posix
// backend (what a listing would show), hidden ones included.
func objects(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	_ = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(root, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}

// TestS3RoundTrip: create --to s3:// -> list --from -> verify --restore-test
// -> restore over the live database and into a new one, all from the object.
func TestS3RoundTrip(t *testing.T) {
	s3 := harness.StartS3(t, "backups")
	e := setup(t)
	source := digest(t, e.pg, app.DatabaseName)
	s3env := s3.Env()

	r := e.bk(t, "create", "--to", "s3://backups/piyasa/nightly", "-o", "json").WithEnv(s3env...).RunOK()
	info := parseInfo(t, r.Stdout)
	loc := "s3://backups/piyasa/nightly/" + info.Name
	if info.Location != loc {
		t.Errorf("location %s, want %s", info.Location, loc)
	}
	if strings.Contains(r.Stdout+r.Stderr, s3.SecretKey) {
		t.Fatal("output shows the S3 secret key")
	}

	r = e.bk(t, "list", "--from", "s3://backups/piyasa/nightly", "-o", "json").WithEnv(s3env...).RunOK()
	var list backup.BackupList
	if err := json.Unmarshal([]byte(r.Stdout), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Status != "ok" || list.Items[0].Info == nil || list.Items[0].Size != info.StoredBytes {
		t.Fatalf("list: %s", r.Stdout)
	}

	e.bk(t, "verify", loc, "--restore-test").WithEnv(s3env...).RunOK()
	if s := scratchDatabases(t, e.pg); s != "" {
		t.Errorf("scratch databases left: %s", s)
	}

	e.pg.MustPsql(t, app.DatabaseName, "DELETE FROM messages; DELETE FROM \"Audit Log\"")
	e.bk(t, "restore", loc, "--yes").WithEnv(s3env...).RunOK()
	sameDigest(t, "after restore from S3", source, digest(t, e.pg, app.DatabaseName))
	waitApp(t, e.ns, 1, 2)
	e.bk(t, "restore", loc, "--to-database", "from_s3").WithEnv(s3env...).RunOK()
	sameDigest(t, "from_s3", source, digest(t, e.pg, "from_s3"))

	// Flags work as well as the variables (credentials are never printed).
	r = e.bk(t, "list", "--from", "s3://backups/piyasa/nightly", "--s3-endpoint", s3.Endpoint,
		"--s3-access-key", s3.AccessKey, "--s3-secret-key", s3.SecretKey).RunOK()
	if !strings.Contains(r.Stdout, info.Name) || !strings.Contains(r.Stdout, "pre-restore") {
		t.Errorf("list by flags:\n%s", r.Stdout)
	}
	// Wrong credentials: a failure that names no secret.
	r = e.bk(t, "list", "--from", "s3://backups/piyasa/nightly").WithEnv(append(s3env, "AWS_SECRET_ACCESS_KEY=wrong-secret-value")...).ExpectCode(1)
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
	fake := fakeTool(t, "pg_dump", fmt.Sprintf("#!/bin/sh\n{ %q \"$@\"; %q \"$@\"; %q \"$@\"; %q \"$@\"; } | head -c %d\nsleep 4\nexit 1\n",
		realTool("pg_dump"), realTool("pg_dump"), realTool("pg_dump"), realTool("pg_dump"), 2*backup.PartSize+12345))
	e := setup(t, fake)
	bucket := filepath.Join(s3.Root, "backups")
	var stdout, stderr bytes.Buffer
	cmd := e.bk(t, "create", "--to", "s3://backups/piyasa", "--compress", "none").WithEnv(s3.Env()...).Start(&stdout, &stderr)
	sawParts := false
	deadline := time.Now().Add(60 * time.Second)
	for !sawParts && time.Now().Before(deadline) {
		sawParts = len(objects(t, bucket)) > 0
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
	r := e.bk(t, "list", "--from", "s3://backups/piyasa", "-o", "json").WithEnv(s3.Env()...).RunOK()
	if !strings.Contains(r.Stdout, `"items": []`) {
		t.Errorf("objects listed after a failed dump: %s", r.Stdout)
	}
	if left := objects(t, bucket); len(left) != 0 {
		t.Errorf("left in the bucket (object or upload parts): %v", left)
	}
}
