package backup_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// TestCreateNamesAndOverwrite: -f x.sql.gz is a gzip backup without
// --compress; a second -f on it is refused (exit 2, the first kept) unless
// --overwrite; two --dir backups started together both stay, under distinct
// names, in a directory created 0700.
func TestCreateNamesAndOverwrite(t *testing.T) {
	e := setup(t)
	file := filepath.Join(e.dir, "b.sql.gz")
	r := e.bk(t, "create", "-f", file, "-o", "json").RunOK()
	if info := parseInfo(t, r.Stdout); info.Compression != "gzip" {
		t.Errorf("-f b.sql.gz: compression %s", info.Compression)
	}
	first, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	r = e.bk(t, "create", "-f", file).ExpectCode(2)
	if !strings.Contains(r.Stderr, "exists") || !strings.Contains(r.Stderr, "--overwrite") {
		t.Errorf("stderr: %s", r.Stderr)
	}
	if again, _ := os.ReadFile(file); string(again) != string(first) {
		t.Error("the refused create changed the file")
	}
	e.bk(t, "create", "-f", file, "--overwrite").RunOK()
	e.bk(t, "verify", file).RunOK()

	dir := filepath.Join(e.dir, "new")
	a := e.bk(t, "create", "--dir", dir)
	b := e.bk(t, "create", "--dir", dir)
	ra, rb := make(chan harness.Result, 1), make(chan harness.Result, 1)
	go func() { ra <- a.Run() }()
	go func() { rb <- b.Run() }()
	for _, r := range []harness.Result{<-ra, <-rb} {
		if r.Code != 0 {
			t.Fatalf("create --dir: exit %d: %s", r.Code, r.Stderr)
		}
	}
	var backups []string
	for _, f := range files(t, dir) {
		if strings.HasSuffix(f, ".sql.zst") {
			backups = append(backups, f)
		}
	}
	if len(backups) != 2 {
		t.Errorf("two creates left %v", files(t, dir))
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("--dir made with %v (%v), want 0700", fi.Mode().Perm(), err)
	}
}
