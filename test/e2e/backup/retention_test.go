package backup_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/backup"
	"github.com/piyasa/kubectl-piyasa/test/e2e/e2ebackup"
)

// createdName runs `backup create ARGS -o json` in e and returns the backup's name.
func createdName(t *testing.T, e *e2ebackup.Env, args ...string) string {
	t.Helper()
	r := e.Backup(t, append(append([]string{"create"}, args...), "-o", "json")...).RunOK()
	var info backup.BackupInfo
	if err := json.Unmarshal([]byte(r.Stdout), &info); err != nil || info.Name == "" {
		t.Fatalf("create -o json: %v\n%s", err, r.Stdout)
	}
	return info.Name
}

// decisions maps each backup of a BackupPrune to its action and reason.
func decisions(doc backup.BackupPrune) map[string]string {
	out := map[string]string{}
	for action, es := range map[string][]backup.PruneEntry{"KEEP": doc.Kept, "REMOVE": doc.Removed, "SKIP": doc.NotConsidered, "FAILED": doc.Failed} {
		for _, e := range es {
			out[e.Name] = action + " " + e.Reason
		}
	}
	return out
}

// TestRetentionPerNamespaceKindAndPin: real backups of one namespace (two
// manual, one pre-migration) beside another environment's backups and
// partial files in one folder. Prune of the namespace removes only its own
// expired manual copy and its stale partial file; the pre-migration copy,
// the other environment's backups and a partial file of a create maybe still
// running are kept; a pinned backup is kept until unpinned.
func TestRetentionPerNamespaceKindAndPin(t *testing.T) {
	e := e2ebackup.Setup(t)
	dir := e.Dir
	// Another environment's backups, older than every backup of e.NS.
	var others []string
	for i := 1; i <= 3; i++ {
		end := time.Now().UTC().AddDate(0, 0, -i).Truncate(time.Second)
		b := pruneBackup{name: "piyasa_db-piyasa-chatbot-" + end.Format("20060102T150405Z") + ".sql.gz", end: end, status: "ok"}
		for n, data := range b.files(t) {
			if err := os.WriteFile(filepath.Join(dir, n), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		others = append(others, b.name)
	}
	old := createdName(t, e, "-f", filepath.Join(dir, "piyasa_db-"+e.NS+"-manual-1.sql.zst"))
	premig := createdName(t, e, "-f", filepath.Join(dir, "piyasa_db-"+e.NS+"-before-upgrade.sql.zst"), "--kind", "pre-migration")
	newest := createdName(t, e, "-f", filepath.Join(dir, "piyasa_db-"+e.NS+"-manual-2.sql.zst"))
	// A create killed two hours ago, and one maybe still running.
	stale := ".piyasa_db-" + e.NS + "-20261201T020000Z.sql.zst.partial-111"
	running := ".piyasa_db-" + e.NS + "-20261201T030000Z.sql.zst.partial-222"
	for n, age := range map[string]time.Duration{stale: 2 * time.Hour, running: time.Minute} {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, []byte("half a dump"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, time.Now().Add(-age), time.Now().Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	before := map[string][]byte{}
	for _, n := range listDir(t, dir) {
		data, _ := os.ReadFile(filepath.Join(dir, n))
		before[n] = data
	}

	// list shows the kinds and the partial files.
	r := e.Backup(t, "list", "--dir", dir).RunOK()
	for _, s := range []string{"KIND", "pre-migration", "manual", stale, "partial", running, "writing"} {
		if !strings.Contains(r.Stdout, s) {
			t.Errorf("list lacks %q:\n%s", s, r.Stdout)
		}
	}

	prune := func(args ...string) backup.BackupPrune {
		t.Helper()
		return parsePrune(t, e.Backup(t, append([]string{"prune", "--dir", dir, "--keep-daily", "1", "--keep-weekly", "0", "--keep-monthly", "0", "-o", "json"}, args...)...).RunOK().Stdout)
	}
	want := map[string]string{
		newest:  "KEEP newest manual",
		premig:  "KEEP newest pre-migration",
		old:     "REMOVE expired",
		stale:   "REMOVE partial leftover of an interrupted create",
		running: "KEEP partial file under 1h old: maybe a create still running",
	}
	for _, n := range others {
		want[n] = "SKIP namespace piyasa-chatbot: not considered"
	}
	check := func(what string, got map[string]string) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s: %d decisions, want %d: %v", what, len(got), len(want), got)
		}
		for n, w := range want {
			if got[n] != w {
				t.Errorf("%s: %s: %q, want %q", what, n, got[n], w)
			}
		}
	}
	check("dry run", decisions(prune("--dry-run=client")))

	// Pinned: kept whatever its kind's retention says, until unpinned.
	e.Backup(t, "pin", filepath.Join(dir, old)).RunOK()
	r = e.Backup(t, "list", "--dir", dir).RunOK()
	if !strings.Contains(r.Stdout, "manual,pinned") {
		t.Errorf("list does not show the pin:\n%s", r.Stdout)
	}
	want[old] = "KEEP pinned"
	check("pinned", decisions(prune("--dry-run=client")))
	e.Backup(t, "unpin", filepath.Join(dir, old)).RunOK()
	want[old] = "REMOVE expired"
	check("prune", decisions(prune()))

	// Removed: the expired manual backup (data, .json) and the stale partial file; nothing else changed.
	left := listDir(t, dir)
	for _, n := range left {
		if n == old || n == old+".json" || n == stale {
			t.Errorf("%s is still there", n)
		}
		if n == old+".json" || n == newest+".json" || n == premig+".json" {
			continue // rewritten by pin/unpin, or read only
		}
		if data, _ := os.ReadFile(filepath.Join(dir, n)); string(data) != string(before[n]) {
			t.Errorf("%s changed", n)
		}
	}
	if len(left) != len(before)-3 {
		t.Errorf("left %d files of %d, want 3 removed: %v", len(left), len(before), left)
	}
}
