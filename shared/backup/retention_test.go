package backup

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

// item is a listed backup of namespace ns with a BackupInfo of that kind
// ("" records none) ending at end.
func item(name, ns, env, kind string, end time.Time) ListItem {
	info := &BackupInfo{Name: name, Namespace: ns, Environment: env, Database: "piyasa_db", Format: FormatPgDump,
		EndTime: end, BackupKind: kind}
	return ListItem{Name: name, Status: "ok", Info: info, Kind: KindOf(name, info), Modified: end}
}

func pinned(it ListItem) ListItem { it.Info.Pinned = true; return it }

func TestPlanPrune(t *testing.T) {
	now := day("2026-12-06").Add(12 * time.Hour)
	gfs := Retention{Daily: 1}
	prod, dev := "piyasa-chatbot", "piyasa-chatbot-dev"
	cases := []struct {
		name  string
		items []ListItem
		ns    string
		// want: name -> KEEP|REMOVE|SKIP and a part of the reason; every item named.
		want map[string][2]string
	}{{
		name: "two environments in one folder: only the asked one is pruned",
		items: []ListItem{
			item("piyasa_db-piyasa-chatbot-dev-1.sql.zst", dev, "dev", KindScheduled, day("2026-12-06")),
			item("piyasa_db-piyasa-chatbot-dev-2.sql.zst", dev, "dev", KindScheduled, day("2026-12-05")),
			item("piyasa_db-piyasa-chatbot-1.sql.zst", prod, "prod", KindScheduled, day("2026-12-04")),
			item("piyasa_db-piyasa-chatbot-2.sql.zst", prod, "prod", KindScheduled, day("2026-12-03")),
		},
		ns: prod,
		want: map[string][2]string{
			"piyasa_db-piyasa-chatbot-dev-1.sql.zst": {"SKIP", "namespace piyasa-chatbot-dev: not considered"},
			"piyasa_db-piyasa-chatbot-dev-2.sql.zst": {"SKIP", "namespace piyasa-chatbot-dev"},
			"piyasa_db-piyasa-chatbot-1.sql.zst":     {"KEEP", "newest scheduled"},
			"piyasa_db-piyasa-chatbot-2.sql.zst":     {"REMOVE", "expired"},
		},
	}, {
		name: "kinds are counted apart: a manual or pre-restore copy never pushes a scheduled one out",
		items: []ListItem{
			item("pre-restore", prod, "prod", KindPreRestore, day("2026-12-06").Add(time.Hour)),
			item("manual", prod, "prod", KindManual, day("2026-12-06").Add(30*time.Minute)),
			item("restored-from", prod, "prod", KindScheduled, day("2026-12-06")),
			item("older-scheduled", prod, "prod", KindScheduled, day("2026-12-06").Add(-time.Hour)),
		},
		ns: prod,
		want: map[string][2]string{
			"pre-restore":     {"KEEP", "newest pre-restore"},
			"manual":          {"KEEP", "newest manual"},
			"restored-from":   {"KEEP", "newest scheduled"},
			"older-scheduled": {"REMOVE", "expired"},
		},
	}, {
		name: "pre-migration copies are kept 30 days, and the newest of their kind always",
		items: []ListItem{
			item("premig-new", prod, "prod", KindPreMigration, day("2026-12-06")),
			item("premig-20d", prod, "prod", KindPreMigration, day("2026-11-16")),
			item("premig-40d", prod, "prod", KindPreMigration, day("2026-10-27")),
			item("lone-pre-restore-90d", prod, "prod", KindPreRestore, day("2026-09-07")),
			item("scheduled", prod, "prod", KindScheduled, day("2026-12-06")),
		},
		ns: prod,
		want: map[string][2]string{
			"premig-new":           {"KEEP", "newest pre-migration"},
			"premig-20d":           {"KEEP", "pre-migration kept until 2026-12-16"},
			"premig-40d":           {"REMOVE", "expired (pre-migration, older than 30 days)"},
			"lone-pre-restore-90d": {"KEEP", "newest pre-restore"},
			"scheduled":            {"KEEP", "newest scheduled"},
		},
	}, {
		name: "pinned backups are never removed",
		items: []ListItem{
			item("s1", prod, "prod", KindScheduled, day("2026-12-06")),
			pinned(item("s2", prod, "prod", KindScheduled, day("2025-01-01"))),
			pinned(item("pm", prod, "prod", KindPreMigration, day("2025-01-01"))),
			item("pm-new", prod, "prod", KindPreMigration, day("2026-12-06")),
		},
		ns: prod,
		want: map[string][2]string{
			"s1": {"KEEP", "newest scheduled"}, "s2": {"KEEP", "pinned"},
			"pm": {"KEEP", "pinned"}, "pm-new": {"KEEP", "newest pre-migration"},
		},
	}, {
		name: "legacy names and metadata: -pre-restore and the CronJob's copies are read as their kind; no metadata is never removed",
		items: []ListItem{
			item("piyasa_db-piyasa-chatbot-20261206T120000Z-pre-restore.sql.zst", prod, "prod", "", day("2026-12-06").Add(time.Hour)),
			item("piyasa_db-piyasa-chatbot-20261206T110000Z.sql.zst", prod, "prod", "", day("2026-12-06")),
			item("piyasa_db-piyasa-chatbot-20261205T110000Z.sql.zst", prod, "prod", "", day("2026-12-05")),
			item("cron-20261206.sql.gz", prod, "", "", day("2026-12-06")),
			item("cron-20261205.sql.gz", prod, "", "", day("2026-12-05")),
			{Name: "piyasa_db-piyasa-chatbot-20200101T000000Z.sql.zst", Status: "no-metadata", Modified: day("2020-01-01")},
			{Name: "broken.sql.zst", Status: "bad-metadata", Modified: day("2020-01-01")},
		},
		ns: prod,
		want: map[string][2]string{
			"piyasa_db-piyasa-chatbot-20261206T120000Z-pre-restore.sql.zst": {"KEEP", "newest pre-restore"},
			"piyasa_db-piyasa-chatbot-20261206T110000Z.sql.zst":             {"KEEP", "newest manual"},
			"piyasa_db-piyasa-chatbot-20261205T110000Z.sql.zst":             {"REMOVE", "expired"},
			"cron-20261206.sql.gz":                                          {"KEEP", "newest scheduled"},
			"cron-20261205.sql.gz":                                          {"REMOVE", "expired"},
			"piyasa_db-piyasa-chatbot-20200101T000000Z.sql.zst":             {"SKIP", "no-metadata: namespace unknown, never removed"},
			"broken.sql.zst":                                                {"SKIP", "bad-metadata: namespace unknown, never removed"},
		},
	}, {
		name: "partial files: leftovers of the namespace removed, young ones and others' kept",
		items: []ListItem{
			item("piyasa_db-piyasa-chatbot-20261206T110000Z.sql.zst", prod, "prod", KindManual, day("2026-12-06")),
			{Name: ".piyasa_db-piyasa-chatbot-20261205T020000Z.sql.zst.partial-123", Status: StatusPartial, Modified: day("2026-12-05")},
			{Name: ".piyasa_db-piyasa-chatbot-20261206T115900Z.sql.zst.partial-456", Status: StatusWriting, Modified: now.Add(-time.Minute)},
			{Name: ".piyasa_db-piyasa-chatbot-dev-20261205T020000Z.sql.zst.partial-789", Status: StatusPartial, Modified: day("2026-12-05")},
		},
		ns: prod,
		want: map[string][2]string{
			"piyasa_db-piyasa-chatbot-20261206T110000Z.sql.zst":                  {"KEEP", "newest manual"},
			".piyasa_db-piyasa-chatbot-20261205T020000Z.sql.zst.partial-123":     {"REMOVE", "partial leftover"},
			".piyasa_db-piyasa-chatbot-20261206T115900Z.sql.zst.partial-456":     {"KEEP", "maybe a create still running"},
			".piyasa_db-piyasa-chatbot-dev-20261205T020000Z.sql.zst.partial-789": {"SKIP", "not considered"},
		},
	}, {
		name: "no good backup of the namespace: nothing removed, not even its partial leftovers",
		items: []ListItem{
			item("piyasa_db-piyasa-chatbot-dev-1.sql.zst", dev, "dev", KindScheduled, day("2026-12-06")),
			{Name: ".piyasa_db-piyasa-chatbot-20261205T020000Z.sql.zst.partial-1", Status: StatusPartial, Modified: day("2026-12-05")},
		},
		ns: prod,
		want: map[string][2]string{
			"piyasa_db-piyasa-chatbot-dev-1.sql.zst":                       {"SKIP", "not considered"},
			".piyasa_db-piyasa-chatbot-20261205T020000Z.sql.zst.partial-1": {"KEEP", "nothing is removed without a good backup"},
		},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			plan := PlanPrune(c.items, PrunePolicy{Retention: gfs, PinnedDays: 30, Namespace: c.ns, Now: now})
			got := map[string][2]string{}
			for action, es := range map[string][]PruneEntry{"KEEP": plan.Kept, "REMOVE": plan.Removed, "SKIP": plan.NotConsidered} {
				for _, e := range es {
					got[e.Name] = [2]string{action, e.Reason}
				}
			}
			if len(got) != len(c.items) {
				t.Errorf("%d decisions for %d items: %v", len(got), len(c.items), got)
			}
			for n, w := range c.want {
				if g := got[n]; g[0] != w[0] || !strings.Contains(g[1], w[1]) {
					t.Errorf("%s: %s %q, want %s %q", n, g[0], g[1], w[0], w[1])
				}
			}
		})
	}
}

func TestKindOf(t *testing.T) {
	for _, c := range []struct {
		name string
		info *BackupInfo
		want string
	}{
		{"a.sql.zst", &BackupInfo{Environment: "dev", BackupKind: KindPreMigration}, KindPreMigration},
		{"piyasa_db-ns-20261206T120000Z-pre-restore.sql.zst", &BackupInfo{Environment: "dev"}, KindPreRestore},
		{"piyasa_db-ns-20261206T120000Z-pre-restore.sql.zst", nil, KindPreRestore},
		{"daily/piyasa_db-ns-20261206T020000Z.sql.gz", &BackupInfo{}, KindScheduled},
		{"piyasa_db-ns-20261206T020000Z.sql.gz", &BackupInfo{Environment: "prod"}, KindManual},
		{"piyasa_db-ns-20261206T020000Z.sql.gz", nil, KindManual},
	} {
		if got := KindOf(c.name, c.info); got != c.want {
			t.Errorf("KindOf(%s, %+v) = %s, want %s", c.name, c.info, got, c.want)
		}
	}
}

// TestListPartialFiles: a directory's partial files are listed, partial when
// older than an hour, writing when younger.
func TestListPartialFiles(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	for n, age := range map[string]time.Duration{".a.sql.zst.partial-1": 2 * time.Hour, ".b.sql.zst.partial-2": time.Minute} {
		p := filepath.Join(dir, n)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, now.Add(-age), now.Add(-age)); err != nil {
			t.Fatal(err)
		}
	}
	items, err := listItems(context.Background(), DirTarget{Dir: dir}, now)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, it := range items {
		got[it.Name] = it.Status
	}
	if len(got) != 2 || got[".a.sql.zst.partial-1"] != StatusPartial || got[".b.sql.zst.partial-2"] != StatusWriting {
		t.Errorf("listed %v", got)
	}
}

func TestPinUnpin(t *testing.T) {
	dir := t.TempDir()
	name := "piyasa_db-piyasa-chatbot-20261201T020000Z.sql"
	writeTestBackup(t, dir, name, day("2026-12-01"), "ok")
	run := func(pin bool, ref string) (string, error) {
		tg := clitest.New("piyasa-chatbot")
		var out bytes.Buffer
		tg.Global.Out = &out
		o := NewPinOptions(tg.Global, pin)
		if err := o.Complete(nil, []string{ref}); err != nil {
			t.Fatal(err)
		}
		if err := o.Validate(); err != nil {
			return "", err
		}
		err := o.Run(context.Background())
		return out.String(), err
	}
	isPinned := func() bool {
		raw, err := os.ReadFile(filepath.Join(dir, name+MetadataSuffix))
		if err != nil {
			t.Fatal(err)
		}
		info, err := ParseInfo(raw)
		if err != nil {
			t.Fatal(err)
		}
		return info.Pinned
	}
	if out, err := run(true, filepath.Join(dir, name)); err != nil || !strings.Contains(out, "pinned") || !isPinned() {
		t.Fatalf("pin: %v %q pinned=%v", err, out, isPinned())
	}
	if _, err := run(true, filepath.Join(dir, name)); err != nil || !isPinned() {
		t.Fatalf("pin again: %v", err)
	}
	if out, err := run(false, filepath.Join(dir, name)); err != nil || !strings.Contains(out, "unpinned") || isPinned() {
		t.Fatalf("unpin: %v %q pinned=%v", err, out, isPinned())
	}
	for _, de := range dirNames(t, dir) {
		if strings.Contains(de, "partial") {
			t.Errorf("left %s", de)
		}
	}
	writeTestBackup(t, dir, "nometa.sql", day("2026-12-01"), "no-metadata")
	if _, err := run(true, filepath.Join(dir, "nometa.sql")); err == nil || !strings.Contains(err.Error(), "no metadata") {
		t.Errorf("pin without metadata: %v", err)
	}
	if _, err := run(true, filepath.Join(dir, "notabackup.txt")); err == nil {
		t.Error("pin of a non-backup name: no error")
	}
}
