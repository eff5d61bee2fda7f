package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

func day(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s+"T02:00:00Z")
	if err != nil {
		panic(err)
	}
	return t
}

// dailySeries is one good backup a day at 02:00 UTC, the newest on last, n in all.
func dailySeries(last string, n int) []PruneCandidate {
	var out []PruneCandidate
	for i := 0; i < n; i++ {
		t := day(last).AddDate(0, 0, -i)
		out = append(out, PruneCandidate{Name: "b-" + t.Format("2006-01-02"), Time: t, Status: "ok"})
	}
	return out
}

func kept(ds []PruneDecision) map[string]string {
	m := map[string]string{}
	for _, d := range ds {
		if d.Keep {
			m[d.Name] = d.Reason
		}
	}
	return m
}

func TestPruneSelectRetention(t *testing.T) {
	gfs := Retention{Daily: 7, Weekly: 4, Monthly: 12}
	cases := []struct {
		name  string
		items []PruneCandidate
		r     Retention
		ok    bool
		keep  map[string]string // name -> reason; every other item is removed
	}{{
		// 2026-12-01 is a Tuesday of ISO week 49 (Nov 30 - Dec 6).
		name:  "40 daily backups",
		items: dailySeries("2026-12-01", 40),
		r:     gfs,
		ok:    true,
		keep: map[string]string{
			"b-2026-12-01": "newest",
			"b-2026-11-30": "daily 2026-11-30", "b-2026-11-29": "daily 2026-11-29", "b-2026-11-28": "daily 2026-11-28",
			"b-2026-11-27": "daily 2026-11-27", "b-2026-11-26": "daily 2026-11-26", "b-2026-11-25": "daily 2026-11-25",
			"b-2026-11-22": "weekly 2026-W47", "b-2026-11-15": "weekly 2026-W46",
			"b-2026-10-31": "monthly 2026-10",
		},
	}, {
		name:  "weekly only",
		items: dailySeries("2026-12-01", 40),
		r:     Retention{Weekly: 2},
		ok:    true,
		keep:  map[string]string{"b-2026-12-01": "newest", "b-2026-11-29": "weekly 2026-W48"},
	}, {
		name: "monthly across a year",
		items: []PruneCandidate{
			{Name: "a", Time: day("2027-01-03"), Status: "ok"}, {Name: "b", Time: day("2026-12-31"), Status: "ok"},
			{Name: "c", Time: day("2026-12-15"), Status: "ok"}, {Name: "d", Time: day("2026-11-02"), Status: "ok"},
			{Name: "e", Time: day("2026-10-30"), Status: "ok"},
		},
		r:    Retention{Monthly: 3},
		ok:   true,
		keep: map[string]string{"a": "newest", "b": "monthly 2026-12", "d": "monthly 2026-11"},
	}, {
		// The backup job stopped a year ago: buckets count from the newest good backup, not from now.
		name: "newest good kept although older than every bucket of now",
		items: []PruneCandidate{
			{Name: "bad-new", Time: day("2027-06-01"), Status: "size-mismatch"},
			{Name: "good-old", Time: day("2025-01-10"), Status: "ok"},
			{Name: "good-older", Time: day("2025-01-09"), Status: "ok"},
			{Name: "good-oldest", Time: day("2024-01-01"), Status: "ok"},
		},
		r:  Retention{Daily: 1},
		ok: true,
		keep: map[string]string{
			"bad-new":  "bad: size-mismatch, no newer good backup",
			"good-old": "newest",
		},
	}, {
		name: "bad ones removed only when a newer good exists",
		items: []PruneCandidate{
			{Name: "nometa-newest", Time: day("2026-12-02"), Status: "no-metadata"},
			{Name: "good", Time: day("2026-12-01"), Status: "ok"},
			{Name: "badmeta", Time: day("2026-11-30"), Status: "bad-metadata"},
			{Name: "mismatch", Time: day("2026-11-29"), Status: "size-mismatch"},
			{Name: "good-2", Time: day("2026-11-28"), Status: "ok"},
		},
		r:  gfs,
		ok: true,
		keep: map[string]string{
			"nometa-newest": "bad: no-metadata, no newer good backup",
			"good":          "newest",
			"good-2":        "daily 2026-11-28",
		},
	}, {
		name: "a bad backup is no kept copy of its day",
		items: []PruneCandidate{
			{Name: "good", Time: day("2026-12-01"), Status: "ok"},
			{Name: "bad-late", Time: day("2026-11-30").Add(20 * time.Hour), Status: "size-mismatch"},
			{Name: "good-early", Time: day("2026-11-30"), Status: "ok"},
		},
		r:    Retention{Daily: 2},
		ok:   true,
		keep: map[string]string{"good": "newest", "good-early": "daily 2026-11-30"},
	}, {
		name: "no good backup: nothing removed",
		items: []PruneCandidate{
			{Name: "x", Time: day("2026-12-01"), Status: "no-metadata"},
			{Name: "y", Time: day("2025-12-01"), Status: "bad-metadata"},
		},
		r:    gfs,
		ok:   false,
		keep: map[string]string{"x": "no good backup", "y": "no good backup"},
	}}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ds, ok := SelectRetention(c.items, c.r)
			if ok != c.ok {
				t.Errorf("ok %v, want %v", ok, c.ok)
			}
			if len(ds) != len(c.items) {
				t.Fatalf("%d decisions for %d items", len(ds), len(c.items))
			}
			got := kept(ds)
			for n, r := range c.keep {
				if got[n] != r {
					t.Errorf("%s: kept %q, want kept %q", n, got[n], r)
				}
			}
			for n, r := range got {
				if _, want := c.keep[n]; !want {
					t.Errorf("%s kept (%s), want removed", n, r)
				}
			}
			for i := 1; i < len(ds); i++ {
				if ds[i].Time.After(ds[i-1].Time) {
					t.Errorf("decisions not newest first: %s after %s", ds[i].Name, ds[i-1].Name)
				}
			}
			for _, d := range ds {
				if !d.Keep && d.Reason != "expired" && !strings.HasPrefix(d.Reason, "bad: ") {
					t.Errorf("%s removed with reason %q", d.Name, d.Reason)
				}
			}
		})
	}
}

// writeTestBackup writes a backup file and, for status ok or size-mismatch,
// its BackupInfo (and a .sha256 as the CronJob writes); bad-metadata writes
// an invalid one, no-metadata none.
func writeTestBackup(t *testing.T, dir, name string, end time.Time, status string) {
	t.Helper()
	data := []byte("backup " + name)
	if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
		t.Fatal(err)
	}
	switch status {
	case "ok", "size-mismatch":
		size := int64(len(data))
		if status == "size-mismatch" {
			size++
		}
		info := &BackupInfo{Name: name, Namespace: "piyasa-chatbot", Database: "piyasa_db", Compression: "none",
			StartTime: end.Add(-time.Minute), EndTime: end, RawBytes: size, StoredBytes: size,
			RawSHA256: strings.Repeat("a", 64), StoredSHA256: strings.Repeat("b", 64)}
		raw, err := info.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+MetadataSuffix), raw, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+ChecksumSuffix), []byte(strings.Repeat("b", 64)+"  "+name+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	case "bad-metadata":
		if err := os.WriteFile(filepath.Join(dir, name+MetadataSuffix), []byte("{not json"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The file times say nothing: retention must read endTime.
	if err := os.Chtimes(filepath.Join(dir, name), time.Now(), time.Now()); err != nil {
		t.Fatal(err)
	}
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	des, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, de := range des {
		out = append(out, de.Name())
	}
	sort.Strings(out)
	return out
}

func runPrune(t *testing.T, dir string, dry cli.DryRun, args ...string) (BackupPrune, error) {
	t.Helper()
	tg := clitest.New("piyasa-chatbot")
	if err := tg.Global.Complete(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	tg.Global.Out = &out
	o := NewPruneOptions(tg.Global)
	o.Dir = dir
	o.DryRun = dry
	o.Print.Output = "json"
	o.Retention = Retention{Daily: 2, Weekly: 0, Monthly: 0}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	err := o.Run(context.Background())
	var doc BackupPrune
	if out.Len() > 0 {
		if jerr := json.Unmarshal(out.Bytes(), &doc); jerr != nil {
			t.Fatalf("%v\n%s", jerr, out.String())
		}
	}
	return doc, err
}

func TestPruneRunOnDir(t *testing.T) {
	dir := t.TempDir()
	writeTestBackup(t, dir, "piyasa_db-ns-20261201T020000Z.sql", day("2026-12-01"), "ok")
	writeTestBackup(t, dir, "piyasa_db-ns-20261130T020000Z.sql", day("2026-11-30"), "ok")
	writeTestBackup(t, dir, "piyasa_db-ns-20261129T020000Z.sql", day("2026-11-29"), "ok")
	writeTestBackup(t, dir, "piyasa_db-ns-20261128T020000Z.sql", day("2026-11-28"), "size-mismatch")
	writeTestBackup(t, dir, "redis-ns-20261101T020000Z.rdb", day("2026-11-01"), "ok") // its own series: kept
	before := dirNames(t, dir)

	doc, err := runPrune(t, dir, cli.DryRunClient)
	if err != nil {
		t.Fatal(err)
	}
	if !doc.DryRun || len(doc.Kept) != 3 || len(doc.Removed) != 2 {
		t.Fatalf("dry run: %+v", doc)
	}
	if got := dirNames(t, dir); strings.Join(got, " ") != strings.Join(before, " ") {
		t.Fatalf("dry run changed the directory: %v, was %v", got, before)
	}

	doc, err = runPrune(t, dir, cli.DryRunNone)
	if err != nil {
		t.Fatal(err)
	}
	if doc.DryRun || len(doc.Kept) != 3 || len(doc.Removed) != 2 {
		t.Fatalf("prune: %+v", doc)
	}
	want := []string{
		"piyasa_db-ns-20261130T020000Z.sql", "piyasa_db-ns-20261130T020000Z.sql.json", "piyasa_db-ns-20261130T020000Z.sql.sha256",
		"piyasa_db-ns-20261201T020000Z.sql", "piyasa_db-ns-20261201T020000Z.sql.json", "piyasa_db-ns-20261201T020000Z.sql.sha256",
		"redis-ns-20261101T020000Z.rdb", "redis-ns-20261101T020000Z.rdb.json", "redis-ns-20261101T020000Z.rdb.sha256",
	}
	if got := dirNames(t, dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("left:\n%v\nwant:\n%v", got, want)
	}
	for _, r := range doc.Removed {
		if r.Location != filepath.Join(dir, r.Name) || (r.Reason != "expired" && r.Reason != "bad: size-mismatch") {
			t.Errorf("removed entry %+v", r)
		}
	}
}

func TestPruneRunNoGoodBackupRemovesNothing(t *testing.T) {
	dir := t.TempDir()
	writeTestBackup(t, dir, "a.sql.gz", day("2026-12-01"), "no-metadata")
	writeTestBackup(t, dir, "b.sql.gz", day("2026-11-01"), "bad-metadata")
	before := dirNames(t, dir)
	doc, err := runPrune(t, dir, cli.DryRunNone)
	var ce *cli.Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "no good backup") {
		t.Fatalf("error %v, want no good backup", err)
	}
	if len(doc.Removed) != 0 || len(doc.Kept) != 0 || len(doc.NotConsidered) != 2 {
		t.Errorf("doc %+v", doc)
	}
	for _, e := range doc.NotConsidered {
		if !strings.Contains(e.Reason, "never removed") {
			t.Errorf("%s: reason %q", e.Name, e.Reason)
		}
	}
	if got := dirNames(t, dir); strings.Join(got, " ") != strings.Join(before, " ") {
		t.Errorf("changed: %v, was %v", got, before)
	}
}

func TestPruneValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		set  func(o *PruneOptions)
		want string
	}{
		{"neither", func(o *PruneOptions) {}, "exactly one"},
		{"both", func(o *PruneOptions) { o.Dir, o.From = "d", "s3://b/p" }, "exactly one"},
		{"from not s3", func(o *PruneOptions) { o.From = "/tmp/x" }, "s3://"},
		{"negative", func(o *PruneOptions) { o.Dir = "d"; o.Retention.Weekly = -1 }, ">= 0"},
		{"all zero", func(o *PruneOptions) { o.Dir = "d"; o.Retention = Retention{} }, "at least one"},
		{"server dry run", func(o *PruneOptions) { o.Dir = "d"; o.DryRun = cli.DryRunServer }, "--dry-run=server"},
		{"ok", func(o *PruneOptions) { o.From = "s3://b/p"; o.Retention = Retention{Monthly: 1} }, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := NewPruneOptions(clitest.New("ns").Global)
			c.set(o)
			err := o.Validate()
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			var ce *cli.Error
			if !errors.As(err, &ce) || ce.Code != 2 || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want a usage error with %q", err, c.want)
			}
		})
	}
}
