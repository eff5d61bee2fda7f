package backup_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/piyasa/kubectl-piyasa/shared/backup"
	"github.com/piyasa/kubectl-piyasa/shared/backup/backupflags"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// pruneBackup is one synthetic backup: its data, and unless status says
// otherwise a BackupInfo (and a .sha256, as the CronJob writes) beside it.
type pruneBackup struct {
	name   string
	end    time.Time
	status string // ok, size-mismatch, no-metadata
}

func (b pruneBackup) files(t *testing.T) map[string][]byte {
	t.Helper()
	data := []byte("synthetic backup " + b.name)
	out := map[string][]byte{b.name: data}
	if b.status == "no-metadata" {
		return out
	}
	size := int64(len(data))
	if b.status == "size-mismatch" {
		size += 10
	}
	info := &backup.BackupInfo{Name: b.name, Namespace: "piyasa-chatbot", Environment: "prod", Database: "piyasa_db",
		Format: backup.FormatPgDump, Compression: "gzip", StartTime: b.end.Add(-2 * time.Minute), EndTime: b.end,
		RawBytes: size * 3, RawSHA256: strings.Repeat("1", 64), StoredBytes: size, StoredSHA256: strings.Repeat("2", 64)}
	raw, err := info.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	out[b.name+backup.MetadataSuffix] = raw
	out[b.name+backup.ChecksumSuffix] = []byte(strings.Repeat("2", 64) + "  " + b.name + "\n")
	return out
}

// pruneSet is 40 nightly backups of piyasa-chatbot at 02:00 UTC up to
// 2026-12-01 (manual: their BackupInfo has an environment and no kind), a
// size-mismatch among the old ones and a no-metadata one newer than every
// good backup. With 7/4/12: the newest, 6 more days, weeks 47 and 46, and
// October's last are kept; the no-metadata one is left alone (never removed).
func pruneSet() (all []pruneBackup, keep map[string]string) {
	last := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	name := func(t time.Time) string {
		return "piyasa_db-piyasa-chatbot-" + t.Format("20060102T150405Z") + ".sql.gz"
	}
	for i := 0; i < 40; i++ {
		t := last.AddDate(0, 0, -i)
		st := "ok"
		if i == 20 {
			st = "size-mismatch"
		}
		all = append(all, pruneBackup{name: name(t), end: t, status: st})
	}
	partial := last.Add(20 * time.Hour)
	all = append(all, pruneBackup{name: name(partial), end: partial, status: "no-metadata"})
	keep = map[string]string{name(last): "newest manual"}
	for i := 1; i < 7; i++ {
		t := last.AddDate(0, 0, -i)
		keep[name(t)] = "daily " + t.Format("2006-01-02")
	}
	keep[name(time.Date(2026, 11, 22, 2, 0, 0, 0, time.UTC))] = "weekly 2026-W47"
	keep[name(time.Date(2026, 11, 15, 2, 0, 0, 0, time.UTC))] = "weekly 2026-W46"
	keep[name(time.Date(2026, 10, 31, 2, 0, 0, 0, time.UTC))] = "monthly 2026-10"
	return all, keep
}

func parsePrune(t *testing.T, out string) backup.BackupPrune {
	t.Helper()
	var doc struct {
		APIVersion, Kind string
		backup.BackupPrune
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("BackupPrune: %v\n%s", err, out)
	}
	if doc.Kind != backup.KindBackupPrune || doc.APIVersion != "piyasa.io/v1alpha1" {
		t.Fatalf("kind %q apiVersion %q", doc.Kind, doc.APIVersion)
	}
	return doc.BackupPrune
}

func checkPruneDoc(t *testing.T, doc backup.BackupPrune, all []pruneBackup, keep map[string]string) {
	t.Helper()
	// The no-metadata backup is not considered (its namespace is unknown).
	if len(doc.Kept) != len(keep) || len(doc.Removed) != len(all)-len(keep)-1 || len(doc.NotConsidered) != 1 ||
		doc.NotConsidered[0].Reason != "no-metadata: namespace unknown, never removed" || doc.Namespace != "piyasa-chatbot" {
		t.Errorf("kept %d removed %d not considered %v, want %d, %d and the no-metadata one", len(doc.Kept), len(doc.Removed), doc.NotConsidered, len(keep), len(all)-len(keep)-1)
	}
	for _, k := range doc.Kept {
		if keep[k.Name] != k.Reason {
			t.Errorf("kept %s (%s), want %q", k.Name, k.Reason, keep[k.Name])
		}
	}
	for _, r := range doc.Removed {
		if _, ok := keep[r.Name]; ok || (r.Reason != "expired" && r.Reason != "bad: size-mismatch") {
			t.Errorf("removed %s (%s)", r.Name, r.Reason)
		}
	}
}

// wantLeft is what remains of the set after the prune: the kept backups and
// their metadata, and the one without metadata.
func wantLeft(t *testing.T, all []pruneBackup, keep map[string]string) []string {
	var out []string
	for _, b := range all {
		if _, ok := keep[b.name]; ok || b.status == "no-metadata" {
			for n := range b.files(t) {
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

func listDir(t *testing.T, dir string) []string {
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

// TestPruneDir: GFS retention over a directory, dry run first (nothing
// removed), then for real (data, .json and .sha256 of each expired backup).
func TestPruneDir(t *testing.T) {
	dir := t.TempDir()
	all, keep := pruneSet()
	for _, b := range all {
		for n, data := range b.files(t) {
			if err := os.WriteFile(filepath.Join(dir, n), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	before := listDir(t, dir)

	r := harness.Piyasa(t, "backup", "prune", "--dir", dir, "-n", "piyasa-chatbot", "--dry-run=client", "-o", "json").RunOK()
	doc := parsePrune(t, r.Stdout)
	if !doc.DryRun || doc.Location != dir {
		t.Errorf("dryRun %v location %q", doc.DryRun, doc.Location)
	}
	checkPruneDoc(t, doc, all, keep)
	if got := listDir(t, dir); strings.Join(got, "\n") != strings.Join(before, "\n") {
		t.Fatalf("the dry run removed files")
	}

	r = harness.Piyasa(t, "backup", "prune", "--dir", dir, "-n", "piyasa-chatbot", "--dry-run=client").RunOK()
	for _, s := range []string{"ACTION", "KIND", "REASON", "KEEP", "REMOVE", "SKIP", "manual", "weekly 2026-W47", "bad: size-mismatch", "would remove",
		"left alone 1 of other namespaces or without metadata"} {
		if !strings.Contains(r.Stdout+r.Stderr, s) {
			t.Errorf("table lacks %q:\n%s%s", s, r.Stdout, r.Stderr)
		}
	}

	r = harness.Piyasa(t, "backup", "prune", "--dir", dir, "-n", "piyasa-chatbot", "-o", "json").RunOK()
	doc = parsePrune(t, r.Stdout)
	if doc.DryRun {
		t.Error("dryRun true")
	}
	checkPruneDoc(t, doc, all, keep)
	if got, want := listDir(t, dir), wantLeft(t, all, keep); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("left:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A second prune removes nothing more.
	r = harness.Piyasa(t, "backup", "prune", "--dir", dir, "-n", "piyasa-chatbot", "-o", "json").RunOK()
	if doc = parsePrune(t, r.Stdout); len(doc.Removed) != 0 || len(doc.Kept) != len(keep) {
		t.Errorf("second prune: kept %d removed %d", len(doc.Kept), len(doc.Removed))
	}
}

// TestPruneNoGoodBackup: nothing is removed, exit 1, and usage errors exit 2.
func TestPruneNoGoodBackup(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"a.sql.gz", "b.sql.gz"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r := harness.Piyasa(t, "backup", "prune", "--dir", dir, "-n", "piyasa-chatbot").ExpectCode(1)
	if !strings.Contains(r.Stderr, "no good backup of namespace piyasa-chatbot") || !strings.Contains(r.Stderr, "2 backup(s) of other namespaces or without metadata left alone") {
		t.Errorf("stderr: %s", r.Stderr)
	}
	if got := listDir(t, dir); len(got) != 2 {
		t.Errorf("left: %v", got)
	}
	harness.Piyasa(t, "backup", "prune").ExpectCode(2)
	harness.Piyasa(t, "backup", "prune", "--dir", dir, "--keep-daily", "0", "--keep-weekly", "0", "--keep-monthly", "0").ExpectCode(2)
	harness.Piyasa(t, "backup", "prune", "--dir", dir, "--keep-daily", "-1").ExpectCode(2)
	if got := listDir(t, dir); len(got) != 2 {
		t.Errorf("left: %v", got)
	}
}

// TestPruneS3: the same retention over objects of versitygw.
func TestPruneS3(t *testing.T) {
	s3 := harness.StartS3(t, "backups")
	flags := &backup.S3Flags{S3: backupflags.S3{Endpoint: s3.Endpoint, Region: s3.Region, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey}}
	c, err := flags.Client()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	all, keep := pruneSet()
	for _, b := range all {
		for n, data := range b.files(t) {
			if _, err := c.PutObject(ctx, "backups", "piyasa/nightly/"+n, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// An object of another prefix is no business of this prune.
	if _, err := c.PutObject(ctx, "backups", "other/"+all[30].name, bytes.NewReader([]byte("x")), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	objects := func() []string {
		var out []string
		for o := range c.ListObjects(ctx, "backups", minio.ListObjectsOptions{Recursive: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			out = append(out, o.Key)
		}
		sort.Strings(out)
		return out
	}
	before := objects()

	r := harness.Piyasa(t, "backup", "prune", "--from", "s3://backups/piyasa/nightly", "-n", "piyasa-chatbot", "--dry-run=client", "-o", "json").WithEnv(s3.Env()...).RunOK()
	doc := parsePrune(t, r.Stdout)
	checkPruneDoc(t, doc, all, keep)
	if got := objects(); strings.Join(got, "\n") != strings.Join(before, "\n") {
		t.Fatal("the dry run removed objects")
	}

	r = harness.Piyasa(t, "backup", "prune", "--from", "s3://backups/piyasa/nightly", "-n", "piyasa-chatbot", "-o", "json").WithEnv(s3.Env()...).RunOK()
	doc = parsePrune(t, r.Stdout)
	checkPruneDoc(t, doc, all, keep)
	if doc.Location != "s3://backups/piyasa/nightly" {
		t.Errorf("location %q", doc.Location)
	}
	want := []string{"other/" + all[30].name}
	for _, n := range wantLeft(t, all, keep) {
		want = append(want, "piyasa/nightly/"+n)
	}
	sort.Strings(want)
	if got := objects(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("left:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
