package backup

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

func TestExpectedDuration(t *testing.T) {
	m := app.MeasuredRestore{Seconds: 20, RawBytes: 100 << 20, WALSegments: 10}
	for _, c := range []struct {
		name      string
		raw, segs int64
		want      time.Duration
	}{
		{"same size", 100 << 20, 10, 20 * time.Second},
		{"smaller: never below the measure", 10 << 20, 2, 20 * time.Second},
		{"base backup 3x", 300 << 20, 10, 60 * time.Second},
		{"WAL 5x wins", 200 << 20, 50, 100 * time.Second},
		{"WAL unknown", 200 << 20, 0, 40 * time.Second},
	} {
		if got := expectedDuration(m, c.raw, c.segs); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
}

func TestSegmentCount(t *testing.T) {
	for _, c := range []struct {
		from, to string
		want     int64
	}{
		{"000000010000000000000002", "000000010000000000000004", 3},
		{"0000000100000000000000FF", "000000010000000100000001", 3},
		{"000000010000000000000004", "000000010000000000000002", 0},
		{"nope", "000000010000000000000002", 0},
	} {
		if got := segmentCount(c.from, c.to); got != c.want {
			t.Errorf("%s..%s: %d, want %d", c.from, c.to, got, c.want)
		}
	}
}

func TestParseMeasuredRestore(t *testing.T) {
	m := app.MeasuredRestore{At: time.Date(2026, 12, 6, 17, 0, 0, 0, time.UTC), Seconds: 12.5, RawBytes: 1 << 30, WALSegments: 7}
	got, err := app.ParseMeasuredRestore(m.Marshal())
	if err != nil || got != m {
		t.Errorf("round trip: %+v %v", got, err)
	}
	for _, bad := range []string{"", "{", `{"seconds":0,"rawBytes":5}`, `{"seconds":3}`} {
		if _, err := app.ParseMeasuredRestore(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	p := &pitrPlan{base: &BackupInfo{RawBytes: 2 << 30}, walFrom: "000000010000000000000002", walTo: "000000010000000000000004"}
	if s := p.durationText(); !strings.HasPrefix(s, "unknown") {
		t.Errorf("without a measure: %s", s)
	}
	p.measured = &m
	if s := p.durationText(); !strings.HasPrefix(s, "about 25s with the app stopped (the last restore here, of a 1.0 GiB base backup and 7 WAL segments, took 13s on 2026-12-06T17:00:00Z)") {
		t.Errorf("with a measure: %s", s)
	}
}

// prepare runs pitrPrepareScript on a local directory as the pod would.
func prepare(t *testing.T, pgdata, mode, suffix string) []string {
	t.Helper()
	cmd := exec.Command("sh", "-c", pitrPrepareScript, "piyasa-pitr", mode, suffix, app.RestoreMarker)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "PGDATA=" + pgdata, app.EnvWALArchiveDir + "=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("prepare: %v\n%s", err, out)
	}
	return strings.Fields(string(out))
}

// TestPrepareScript: the data directory is kept (or removed), a missing one
// is said, and a rerun over the restore's own unfinished directory removes
// it and keeps the first safety copy.
func TestPrepareScript(t *testing.T) {
	dir := t.TempDir()
	pgdata := filepath.Join(dir, "pgdata")
	os.Mkdir(pgdata, 0o700)
	os.WriteFile(filepath.Join(pgdata, "PG_VERSION"), []byte("16\n"), 0o600)

	f := prepare(t, pgdata, "keep", ".before-restore-1")
	if len(f) != 3 || f[1] != "kept" || f[2] != pgdata+".before-restore-1" {
		t.Fatalf("keep: %q", f)
	}
	if _, err := os.Stat(filepath.Join(pgdata+".before-restore-1", "PG_VERSION")); err != nil {
		t.Errorf("the safety copy lacks the old files: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(pgdata, app.RestoreMarker)); strings.TrimSpace(string(b)) != pgdata+".before-restore-1" {
		t.Errorf("marker: %q", b)
	}
	os.WriteFile(filepath.Join(pgdata, "half-laid"), nil, 0o600)

	f = prepare(t, pgdata, "keep", ".before-restore-2")
	if len(f) != 3 || f[1] != "rerun" || f[2] != pgdata+".before-restore-1" {
		t.Fatalf("rerun: %q", f)
	}
	if _, err := os.Stat(pgdata + ".before-restore-2"); err == nil {
		t.Error("a rerun kept its own unfinished directory as a second safety copy")
	}
	if _, err := os.Stat(filepath.Join(pgdata, "half-laid")); err == nil {
		t.Error("a rerun left what the first run laid down")
	}

	os.Remove(filepath.Join(pgdata, app.RestoreMarker)) // the restore finished
	if f = prepare(t, pgdata, "remove", ".before-restore-3"); len(f) != 2 || f[1] != "removed" {
		t.Errorf("remove: %q", f)
	}
	os.RemoveAll(pgdata)
	if f = prepare(t, pgdata, "keep", ".before-restore-4"); len(f) != 2 || f[1] != "absent" {
		t.Errorf("absent: %q", f)
	}
	if fi, err := os.Stat(pgdata); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the new data directory: %v %v", fi, err)
	}
}

// TestArchiveListScript runs the listing on local directories: the
// segments with their sizes, and the marker of an unfinished restore.
func TestArchiveListScript(t *testing.T) {
	wal, pgdata := t.TempDir(), t.TempDir()
	seg := "000000010000000000000003"
	os.WriteFile(filepath.Join(wal, seg), make([]byte, 1000), 0o600)
	os.WriteFile(filepath.Join(wal, "archive_status"), nil, 0o600)
	for _, unfinished := range []bool{false, true} {
		if unfinished {
			os.WriteFile(filepath.Join(pgdata, app.RestoreMarker), nil, 0o600)
		}
		cmd := exec.Command("sh", "-c", archiveListScript, "piyasa-pitr", app.RestoreMarker)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "PGDATA=" + pgdata, app.EnvWALArchiveDir + "=" + wal}
		out, err := cmd.Output()
		if err != nil {
			t.Fatal(err)
		}
		files, d := parseArchiveList(string(out))
		if len(files) != 1 || files[0].Name != seg || files[0].Size != 1000 || d.FreeKB <= 0 || d.Unfinished != unfinished {
			t.Errorf("unfinished=%v: %+v %+v\n%s", unfinished, files, d, out)
		}
	}
}
