package pitr_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/test/e2e/e2ebackup"
)

// TestPITRFromSyncedWAL: the disaster takes the data directory and the WAL
// archive volume; the WAL `backup wal sync` copied off the cluster is copied
// back in, each file checked, and restore --to-time gives exactly the rows
// up to T.
func TestPITRFromSyncedWAL(t *testing.T) {
	e := setupPITR(t)
	ts, want := pitrTarget(t, e)
	e.Backup(t, "wal", "sync", "--dir", e.Dir).RunOK()

	if err := e.PG.Crash(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(e.PG.Data); err != nil {
		t.Fatal(err)
	}
	lost, _ := os.ReadDir(e.PG.WALArchive)
	for _, f := range lost {
		if err := os.RemoveAll(filepath.Join(e.PG.WALArchive, f.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if len(lost) < 3 {
		t.Fatalf("the archive held %d files before it was lost", len(lost))
	}

	r := e.Backup(t, "restore", "--to-time", ts, "--from", e.Dir, "--yes").Run()
	if r.Code != 0 {
		t.Fatalf("restore exit %d:\n%s\n%s\nserver log:\n%s", r.Code, r.Stdout, r.Stderr, tail(e.PG.ServerLog(), 30))
	}
	t.Logf("restore:\n%s%s", r.Stderr, r.Stdout)
	m := regexp.MustCompile(`\((\d+) to copy into the archive volume from `).FindStringSubmatch(r.Stderr)
	if m == nil {
		t.Fatalf("the plan does not say what it copies in:\n%s", r.Stderr)
	}
	if n, _ := strconv.Atoi(m[1]); n < 2 {
		t.Errorf("%d WAL files copied in, want the base backup's start segment and those after it", n)
	}
	if !strings.Contains(r.Stderr, "there was no data directory to keep") {
		t.Errorf("the lost data directory is not said:\n%s", r.Stderr)
	}
	if got := idsText(t, e.PG, ""); got != want {
		t.Errorf("rows after the restore to %s:\n%s\nwant the rows up to it:\n%s", ts, got, want)
	}
	e2ebackup.WaitApp(t, e.NS, 1, 2)
}
