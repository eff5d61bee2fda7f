package backup

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/walarchive"
)

// baseItem is a listed base backup of namespace ns whose WAL runs from
// segment start to the end of segment end (numbers on timeline 1).
func baseItem(name, ns, kind string, endTime time.Time, start, end uint32) ListItem {
	info := &BackupInfo{Name: name, Namespace: ns, Environment: "prod", Database: "piyasa_db", Format: FormatBaseBackup,
		EndTime: endTime, BackupKind: kind, WAL: &WALRange{Timeline: 1, StartLSN: fmt.Sprintf("0/%X", start<<24|0x28),
			EndLSN: fmt.Sprintf("0/%X", end<<24|0x100), StartSegment: segName(start)}}
	return ListItem{Name: name, Status: "ok", Info: info, Kind: KindOf(name, info), Modified: endTime}
}

func segName(n uint32) string { return walarchive.Segment{Timeline: 1, Seg: n}.Name() }

// walFiles is the synced WAL of segments from..to (each with its sidecar),
// less those in missing, plus extra names.
func walFiles(from, to uint32, missing []uint32, extra ...string) []string {
	var out []string
	gone := map[uint32]bool{}
	for _, m := range missing {
		gone[m] = true
	}
	for n := from; n <= to; n++ {
		if !gone[n] {
			out = append(out, segName(n), segName(n)+WALSidecarSuffix)
		}
	}
	return append(out, extra...)
}

func TestPlanPruneBaseBackups(t *testing.T) {
	ns := "piyasa-chatbot"
	now := day("2026-12-06").Add(12 * time.Hour)
	r := Retention{Daily: 2}
	cases := []struct {
		name  string
		items []ListItem
		wal   []string
		// want: name -> KEEP|REMOVE and a part of the reason.
		want map[string][2]string
		// keepFrom is the first WAL segment kept ("" none removed); removed the segments removed.
		keepFrom string
		removed  int
	}{{
		name: "GFS over base backups; the WAL before the oldest kept one's start goes",
		items: []ListItem{
			baseItem("b4", ns, KindScheduled, day("2026-12-06"), 9, 9),
			baseItem("b3", ns, KindScheduled, day("2026-12-05"), 6, 6),
			baseItem("b2", ns, KindScheduled, day("2026-12-04"), 4, 4),
			baseItem("b1", ns, KindScheduled, day("2026-12-03"), 2, 2),
			item("dump", ns, "prod", KindScheduled, day("2026-12-01")),
		},
		wal: walFiles(1, 10, nil, "00000002.history", "00000002.history.sha256"),
		want: map[string][2]string{
			"b4": {"KEEP", "newest scheduled base backup"}, "b3": {"KEEP", "daily 2026-12-05"},
			"b2": {"REMOVE", "expired"}, "b1": {"REMOVE", "expired"}, "dump": {"KEEP", "newest scheduled"},
		},
		keepFrom: segName(6), removed: 5,
	}, {
		name: "the newest base backup lacks WAL: it is no kept copy, the newest restorable one stays with its chain",
		items: []ListItem{
			baseItem("new-no-wal", ns, KindScheduled, day("2026-12-06"), 12, 12),
			baseItem("good", ns, KindScheduled, day("2026-12-05").Add(-time.Hour), 6, 7),
			baseItem("older", ns, KindScheduled, day("2026-12-02"), 3, 3),
		},
		wal: walFiles(1, 10, nil),
		want: map[string][2]string{
			"new-no-wal": {"KEEP", "bad: wal-missing, no newer good backup"},
			"good":       {"KEEP", "newest scheduled base backup"},
			"older":      {"REMOVE", "expired"},
		},
		keepFrom: segName(6), removed: 5,
	}, {
		name: "a gap inside a base backup's own range makes it bad; an older good one is kept",
		items: []ListItem{
			baseItem("gap", ns, KindScheduled, day("2026-12-06"), 8, 9),
			baseItem("whole", ns, KindScheduled, day("2026-12-02"), 3, 3),
		},
		wal: walFiles(1, 10, []uint32{9}),
		want: map[string][2]string{
			"gap":   {"KEEP", "bad: wal-missing, no newer good backup"},
			"whole": {"KEEP", "newest scheduled base backup"},
		},
		keepFrom: segName(3), removed: 2,
	}, {
		name: "no WAL synced here: no base backup is good, nothing of them nor of the WAL removed",
		items: []ListItem{
			baseItem("b2", ns, KindScheduled, day("2026-12-06"), 5, 5),
			baseItem("b1", ns, KindScheduled, day("2026-11-01"), 2, 2),
			item("dump", ns, "prod", KindScheduled, day("2026-12-01")),
		},
		wal: []string{segName(1)}, // no sidecar: does not count
		want: map[string][2]string{
			"b2": {"KEEP", "no good backup"}, "b1": {"KEEP", "no good backup"}, "dump": {"KEEP", "newest scheduled"},
		},
	}, {
		name: "a pinned old base backup keeps its WAL; another namespace's base backup counts for nothing",
		items: []ListItem{
			baseItem("new", ns, KindManual, day("2026-12-06"), 9, 9),
			pinned(baseItem("pinned", ns, KindManual, day("2026-10-06"), 2, 2)),
			baseItem("mid", ns, KindManual, day("2026-11-06"), 5, 5),
			baseItem("other-ns", "piyasa-chatbot-dev", KindManual, day("2026-09-06"), 1, 1),
		},
		wal: walFiles(1, 10, nil),
		want: map[string][2]string{
			"new": {"KEEP", "newest manual base backup"}, "pinned": {"KEEP", "pinned"}, "mid": {"REMOVE", "expired"},
			"other-ns": {"SKIP", "not considered"},
		},
		keepFrom: segName(2), removed: 1,
	}, {
		name: "a pre-restore base backup is kept its days and holds its WAL",
		items: []ListItem{
			baseItem("sched", ns, KindScheduled, day("2026-12-06"), 9, 9),
			baseItem("prerestore", ns, KindPreRestore, day("2026-11-20"), 4, 4),
		},
		wal: walFiles(1, 10, nil),
		want: map[string][2]string{
			"sched": {"KEEP", "newest scheduled base backup"}, "prerestore": {"KEEP", "newest pre-restore"},
		},
		keepFrom: segName(4), removed: 3,
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan := PlanPrune(c.items, PrunePolicy{Retention: r, BaseRetention: r, PinnedDays: 30, Namespace: ns, Now: now, WAL: c.wal})
			got := map[string][2]string{}
			for _, e := range plan.Kept {
				got[e.Name] = [2]string{"KEEP", e.Reason}
			}
			for _, e := range plan.Removed {
				got[e.Name] = [2]string{"REMOVE", e.Reason}
			}
			for _, e := range plan.NotConsidered {
				got[e.Name] = [2]string{"SKIP", e.Reason}
			}
			for name, w := range c.want {
				if g := got[name]; g[0] != w[0] || !strings.Contains(g[1], w[1]) {
					t.Errorf("%s: %s %q, want %s %q", name, g[0], g[1], w[0], w[1])
				}
			}
			if len(got) != len(c.want) {
				t.Errorf("decisions %v, want %d", got, len(c.want))
			}
			if plan.WAL.KeepFrom != c.keepFrom || len(plan.WAL.RemovedSegments) != c.removed {
				t.Fatalf("WAL plan %+v, want from %q, %d removed", plan.WAL, c.keepFrom, c.removed)
			}
			checkWALPlan(t, plan, c.items, c.wal)
		})
	}
}

// checkWALPlan: the removed files are the removed segments and their
// sidecars, sidecars first; every kept base backup still has its whole chain
// in what is left.
func checkWALPlan(t *testing.T, plan PrunePlan, items []ListItem, files []string) {
	infos := map[string]*BackupInfo{}
	for _, it := range items {
		infos[it.Name] = it.Info
	}
	t.Helper()
	gone := map[string]bool{}
	for i, f := range plan.WAL.Files {
		gone[f] = true
		if i > 0 && strings.HasSuffix(f, WALSidecarSuffix) && !strings.HasSuffix(plan.WAL.Files[i-1], WALSidecarSuffix) {
			t.Errorf("sidecar %s after a segment in %v", f, plan.WAL.Files)
		}
		if walarchive.IsHistoryName(walBase(f)) {
			t.Errorf("history file %s removed", f)
		}
	}
	for _, s := range plan.WAL.RemovedSegments {
		if !gone[s] || !gone[s+WALSidecarSuffix] {
			t.Errorf("segment %s removed without its files: %v", s, plan.WAL.Files)
		}
	}
	var left []string
	for _, f := range files {
		if !gone[f] {
			left = append(left, f)
		}
	}
	after, before := syncedWALNames(left), syncedWALNames(files)
	for _, e := range plan.Kept {
		if in := infos[e.Name]; in != nil && in.Format == FormatBaseBackup && BaseChainWhole(in, before) && !BaseChainWhole(in, after) {
			t.Errorf("kept base backup %s lost its chain", e.Name)
		}
	}
}

func TestPlanWALPrune(t *testing.T) {
	good := &BackupInfo{Name: "good", WAL: &WALRange{StartSegment: segName(5)}}
	older := &BackupInfo{Name: "older", WAL: &WALRange{StartSegment: segName(3)}}
	files := append(walFiles(1, 6, nil, "00000002.history", "00000002.history.sha256", segName(2)+AgeSuffix, segName(2)+AgeSuffix+WALSidecarSuffix),
		"000000010000000000000001.partial", "readme.txt")
	cases := []struct {
		name    string
		kept    []*BackupInfo
		anyGood bool
		removed []string
		reason  string
	}{
		{"oldest kept one decides", []*BackupInfo{good, older}, true, []string{segName(1), segName(2)}, "oldest kept base backup older"},
		{"no good base backup", []*BackupInfo{good}, false, []string{}, "no base backup has a whole WAL chain"},
		{"no kept base backup", nil, true, []string{}, "no base backup kept"},
		{"a kept one without WAL range", []*BackupInfo{good, {Name: "odd"}}, true, []string{}, "odd does not name its start segment"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := PlanWALPrune(c.kept, c.anyGood, files)
			if strings.Join(p.RemovedSegments, " ") != strings.Join(c.removed, " ") || !strings.Contains(p.Reason, c.reason) {
				t.Fatalf("plan %+v, want removed %v, reason %q", p, c.removed, c.reason)
			}
			if len(c.removed) == 0 && len(p.Files) != 0 {
				t.Fatalf("files removed without segments: %v", p.Files)
			}
			if len(c.removed) > 0 {
				want := []string{segName(1) + WALSidecarSuffix, segName(2) + AgeSuffix + WALSidecarSuffix, segName(2) + WALSidecarSuffix,
					segName(1), segName(2), segName(2) + AgeSuffix}
				if strings.Join(p.Files, " ") != strings.Join(want, " ") || p.KeptSegments != 4 {
					t.Fatalf("files %v (kept %d), want %v and 4 kept", p.Files, p.KeptSegments, want)
				}
			}
		})
	}
}

// TestPruneRunRemovesWALOnDir: prune of a directory removes the expired base
// backup and the WAL before the kept one's start (a dry run nothing); the
// other namespace's WAL folder is untouched.
func TestPruneRunRemovesWALOnDir(t *testing.T) {
	dir := t.TempDir()
	writeTestBase(t, dir, "piyasa_db-piyasa-chatbot-1.base.tar.zst", day("2026-12-06"), 4, 4)
	writeTestBase(t, dir, "piyasa_db-piyasa-chatbot-0.base.tar.zst", day("2026-08-01"), 2, 2)
	for _, ns := range []string{"piyasa-chatbot", "piyasa-chatbot-dev"} {
		wd := filepath.Join(dir, WALDir, ns)
		if err := os.MkdirAll(wd, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, f := range walFiles(1, 5, nil) {
			if err := os.WriteFile(filepath.Join(wd, f), []byte(f), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	walDir := filepath.Join(dir, WALDir, "piyasa-chatbot")
	doc, err := runPrune(t, dir, cli.DryRunClient)
	if err != nil || len(doc.Removed) != 1 || doc.WAL == nil || len(doc.WAL.RemovedSegments) != 3 || doc.WAL.KeptSegments != 2 || len(dirNames(t, walDir)) != 10 {
		t.Fatalf("dry run: %v %+v %+v", err, doc, doc.WAL)
	}
	doc, err = runPrune(t, dir, cli.DryRunNone)
	if err != nil || len(doc.Removed) != 1 || doc.Removed[0].Name != "piyasa_db-piyasa-chatbot-0.base.tar.zst" {
		t.Fatalf("prune: %v %+v", err, doc)
	}
	want := []string{segName(4), segName(4) + ".sha256", segName(5), segName(5) + ".sha256"}
	if got := dirNames(t, walDir); strings.Join(got, " ") != strings.Join(want, " ") || doc.WAL.KeepFrom != segName(4) {
		t.Fatalf("WAL left %v, want %v (%+v)", got, want, doc.WAL)
	}
	if got := dirNames(t, filepath.Join(dir, WALDir, "piyasa-chatbot-dev")); len(got) != 10 {
		t.Fatalf("other namespace's WAL touched: %v", got)
	}
}

// writeTestBase writes a base backup of piyasa-chatbot whose WAL runs from
// segment start to segment end (timeline 1), as writeTestBackup does.
func writeTestBase(t *testing.T, dir, name string, endTime time.Time, start, end uint32) {
	t.Helper()
	writeTestBackup(t, dir, name, endTime, "ok")
	raw, _ := os.ReadFile(filepath.Join(dir, name+MetadataSuffix))
	info, err := ParseInfo(raw)
	if err != nil {
		t.Fatal(err)
	}
	info.Format, info.WAL = FormatBaseBackup, &WALRange{Timeline: 1, StartSegment: segName(start), EndLSN: fmt.Sprintf("0/%X", end<<24)}
	raw, _ = info.Marshal()
	if err := os.WriteFile(filepath.Join(dir, name+MetadataSuffix), raw, 0o600); err != nil {
		t.Fatal(err)
	}
}
