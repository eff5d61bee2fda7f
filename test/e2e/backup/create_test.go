package backup_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/test/e2e/e2ebackup"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// TestCreateNamesAndOverwrite: -f x.sql.gz is a gzip backup without
// --compress; a second -f on it is refused (exit 2, the first kept) unless
// --overwrite; two --dir backups started together both stay, under distinct
// names, in a directory created 0700.
func TestCreateNamesAndOverwrite(t *testing.T) {
	e := e2ebackup.Setup(t)
	file := filepath.Join(e.Dir, "b.sql.gz")
	r := e.Backup(t, "create", "-f", file, "-o", "json").RunOK()
	if info := e2ebackup.ParseInfo(t, r.Stdout); info.Compression != "gzip" {
		t.Errorf("-f b.sql.gz: compression %s", info.Compression)
	}
	first, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	r = e.Backup(t, "create", "-f", file).ExpectCode(2)
	if !strings.Contains(r.Stderr, "exists") || !strings.Contains(r.Stderr, "--overwrite") {
		t.Errorf("stderr: %s", r.Stderr)
	}
	if again, _ := os.ReadFile(file); string(again) != string(first) {
		t.Error("the refused create changed the file")
	}
	e.Backup(t, "create", "-f", file, "--overwrite").RunOK()
	e.Backup(t, "verify", file).RunOK()

	dir := filepath.Join(e.Dir, "new")
	a := e.Backup(t, "create", "--dir", dir)
	b := e.Backup(t, "create", "--dir", dir)
	ra, rb := make(chan harness.Result, 1), make(chan harness.Result, 1)
	go func() { ra <- a.Run() }()
	go func() { rb <- b.Run() }()
	for _, r := range []harness.Result{<-ra, <-rb} {
		if r.Code != 0 {
			t.Fatalf("create --dir: exit %d: %s", r.Code, r.Stderr)
		}
	}
	var backups []string
	for _, f := range e2ebackup.Files(t, dir) {
		if strings.HasSuffix(f, ".sql.zst") {
			backups = append(backups, f)
		}
	}
	if len(backups) != 2 {
		t.Errorf("two creates left %v", e2ebackup.Files(t, dir))
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("--dir made with %v (%v), want 0700", fi.Mode().Perm(), err)
	}
}
