package pitr_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/backup"
	"github.com/piyasa/kubectl-piyasa/shared/walarchive"
	"github.com/piyasa/kubectl-piyasa/test/e2e/e2ebackup"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// walNames lists a folder's WAL files that count (sidecar present), by
// segment or history name.
func walNames(t *testing.T, dir string) []string {
	t.Helper()
	var entries []backup.Entry
	for _, f := range e2ebackup.Files(t, dir) {
		entries = append(entries, backup.Entry{Name: f})
	}
	var out []string
	for n := range backup.SyncedWAL(entries) {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// archiveNames lists the segments of the server's archive directory (the postgres pod's $WAL_ARCHIVE_DIR).
func archiveNames(t *testing.T, e *e2ebackup.Env) []string {
	t.Helper()
	var out []string
	for _, f := range e2ebackup.Files(t, e.PG.WALArchive) {
		if walarchive.IsSegmentName(f) {
			out = append(out, f)
		}
	}
	sort.Strings(out)
	return out
}

// checkChainFrom: the names hold base backup b's whole chain, up to the newest segment.
func checkChainFrom(t *testing.T, what string, b *backup.BackupInfo, names []string) {
	t.Helper()
	from, _ := walarchive.ParseSegment(b.WAL.StartSegment)
	c := walarchive.CheckChain(from, names)
	if !c.Unbroken() || !backup.BaseChainWhole(b, names) {
		t.Fatalf("%s: the chain of %s from %s is broken: %+v", what, b.Name, from, c)
	}
}

func pruneDoc(t *testing.T, r harness.Result) backup.BackupPrune {
	t.Helper()
	var doc backup.BackupPrune
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("BackupPrune: %v\n%s\n%s", err, r.Stdout, r.Stderr)
	}
	return doc
}

// TestPruneBaseBackupsAndWAL: two real base backups of one day with WAL
// archived and synced around them; backup prune keeps the newer one and
// its whole chain, removes the older one and the segments before the
// newer one's start (the other namespace's WAL untouched, a dry run changing
// nothing); backup wal prune is refused without a base backup, then frees
// the pod's archive of the synced segments the kept base backup does not
// need, keeping its chain whole there too.
func TestPruneBaseBackupsAndWAL(t *testing.T) {
	e := setupArchiving(t)
	newSegment(t, e)
	old := baseBackup(t, e)
	newSegment(t, e)
	newSegment(t, e)
	kept := baseBackup(t, e)
	newSegment(t, e)
	e.Backup(t, "wal", "sync", "--dir", e.Dir).RunOK()

	walDir := filepath.Join(e.Dir, "wal", e.NS)
	otherDir := filepath.Join(e.Dir, "wal", e.NS+"-other")
	if err := os.MkdirAll(otherDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range e2ebackup.Files(t, walDir) {
		b, _ := os.ReadFile(filepath.Join(walDir, f))
		if err := os.WriteFile(filepath.Join(otherDir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	otherBefore := strings.Join(e2ebackup.Files(t, otherDir), " ")
	before := walNames(t, walDir)
	checkChainFrom(t, "before prune", old, before)

	// Without any base backup in a place, wal prune refuses and removes nothing.
	inPod := archiveNames(t, e)
	empty := t.TempDir()
	r := e.Backup(t, "wal", "prune", "--dir", empty).ExpectCode(2)
	if !strings.Contains(r.Stderr, "no base backup") || strings.Join(archiveNames(t, e), " ") != strings.Join(inPod, " ") {
		t.Fatalf("wal prune without a base backup: %s\narchive %v, was %v", r.Stderr, archiveNames(t, e), inPod)
	}

	dry := pruneDoc(t, e.Backup(t, "prune", "--dir", e.Dir, "--dry-run=client", "-o", "json").RunOK())
	if dry.WAL == nil || len(dry.WAL.RemovedSegments) == 0 || strings.Join(walNames(t, walDir), " ") != strings.Join(before, " ") {
		t.Fatalf("dry run: %+v; WAL now %v", dry.WAL, walNames(t, walDir))
	}

	doc := pruneDoc(t, e.Backup(t, "prune", "--dir", e.Dir, "-o", "json").RunOK())
	if len(doc.Removed) != 1 || doc.Removed[0].Name != old.Name || doc.WAL.KeepFrom != kept.WAL.StartSegment || doc.WAL.KeptFor != kept.Name {
		t.Fatalf("prune: removed %+v, WAL %+v", doc.Removed, doc.WAL)
	}
	for _, suffix := range []string{"", ".json"} {
		if _, err := os.Stat(filepath.Join(e.Dir, old.Name+suffix)); !os.IsNotExist(err) {
			t.Errorf("%s%s still there (%v)", old.Name, suffix, err)
		}
	}
	after := walNames(t, walDir)
	checkChainFrom(t, "after prune", kept, after)
	for _, s := range doc.WAL.RemovedSegments {
		if s >= kept.WAL.StartSegment || contains(after, s) || !contains(before, s) {
			t.Errorf("removed segment %s: kept start %s, left %v", s, kept.WAL.StartSegment, after)
		}
		for _, f := range []string{s, s + backup.WALSidecarSuffix} {
			if _, err := os.Stat(filepath.Join(walDir, f)); !os.IsNotExist(err) {
				t.Errorf("%s still in %s", f, walDir)
			}
		}
	}
	if len(after)+len(doc.WAL.RemovedSegments) != len(before) {
		t.Errorf("WAL %v after, %v removed, %v before", after, doc.WAL.RemovedSegments, before)
	}
	if got := strings.Join(e2ebackup.Files(t, otherDir), " "); got != otherBefore {
		t.Fatalf("the other namespace's WAL changed:\n%s\nwas\n%s", got, otherBefore)
	}

	var res backup.WALPruneResult
	r = e.Backup(t, "wal", "prune", "--dir", e.Dir, "-o", "json").RunOK()
	if err := json.Unmarshal([]byte(r.Stdout), &res); err != nil {
		t.Fatalf("WALPruneResult: %v\n%s", err, r.Stdout)
	}
	left := archiveNames(t, e)
	if len(res.Remove) == 0 || res.BaseBackup != kept.Name || len(left)+len(res.Remove) != len(inPod) || left[len(left)-1] != inPod[len(inPod)-1] {
		t.Fatalf("wal prune: %+v; archive %v, was %v", res, left, inPod)
	}
	for _, s := range res.Remove {
		if s >= kept.WAL.StartSegment || contains(left, s) {
			t.Errorf("pod segment %s removed (kept start %s) or still there", s, kept.WAL.StartSegment)
		}
	}
	checkChainFrom(t, "the pod's archive after wal prune", kept, left)
}
