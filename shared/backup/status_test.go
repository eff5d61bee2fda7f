package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

func TestParseArchiverAndDF(t *testing.T) {
	a, err := parseArchiver("12\t000000010000000000000007\t1786000100\t2\t000000010000000000000008\t1786000200\n")
	if err != nil || a.ArchivedCount != 12 || a.FailedCount != 2 || a.LastArchivedWAL != "000000010000000000000007" ||
		a.LastFailedTime.Unix() != 1786000200 || !a.Failing() {
		t.Fatalf("%+v %v", a, err)
	}
	a, err = parseArchiver("0\t\t\t0\t\t\n")
	if err != nil || a.LastArchivedTime != nil || a.Failing() {
		t.Fatalf("fresh archiver %+v %v", a, err)
	}
	if a, _ := parseArchiver("5\tX\t1786000300\t1\tY\t1786000200"); a.Failing() {
		t.Error("a failure older than the last success counts as failing")
	}
	for _, bad := range []string{"", "1\t2\t3", "x\t\t\t0\t\t", "1\t\tnot-a-time\t0\t\t"} {
		if _, err := parseArchiver(bad); err == nil {
			t.Errorf("row %q taken", bad)
		}
	}
	v, err := parseDF("Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sdb 1000 900 100 90% /wal\n")
	if err != nil || v.SizeBytes != 1024000 || v.UsedBytes != 921600 || v.AvailableBytes != 102400 || v.UsedPercent != 90 {
		t.Fatalf("%+v %v", v, err)
	}
	if _, err := parseDF("df: /wal: No such file\n"); err == nil {
		t.Error("df error taken")
	}
}

// baseInfo is a base backup that needs WAL from segment 3 to LSN 0/4000100.
func baseInfo(ns string, end time.Time) *BackupInfo {
	return &BackupInfo{Name: "base-1.tar.zst", Namespace: ns, Format: FormatBaseBackup, EndTime: end,
		Compression: "zstd", RawBytes: 1, StoredBytes: 1, RawSHA256: strings.Repeat("a", 64), StoredSHA256: strings.Repeat("b", 64),
		WAL: &WALRange{Timeline: 1, StartLSN: "0/3000028", EndLSN: "0/4000100", StartSegment: "000000010000000000000003"}}
}

func TestChainFromAndWindow(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	seen := walSeen{}
	for i, n := range []string{"000000010000000000000002", "000000010000000000000003", "000000010000000000000004", "000000010000000000000005"} {
		seen.Add(n, t0.Add(time.Duration(i)*time.Minute))
	}
	seen.Add("000000010000000000000005", t0.Add(time.Hour)) // synced later: the archive time is kept
	s := &BackupStatus{}
	s.chainFrom(seen, []*BackupInfo{baseInfo(walNS, t0.Add(30*time.Second))})
	if len(s.Gaps) != 0 || len(s.Problems) != 0 || s.Window == nil || !s.Window.From.Equal(t0.Add(30*time.Second)) ||
		!s.Window.To.Equal(t0.Add(3*time.Minute)) || s.Window.LastSegment != "000000010000000000000005" {
		t.Fatalf("%+v %+v", s, s.Window)
	}

	// The base backup's own WAL is missing: no window, a problem.
	delete(seen, "000000010000000000000004")
	s = &BackupStatus{}
	s.chainFrom(seen, []*BackupInfo{baseInfo(walNS, t0)})
	if s.Window != nil || len(s.Gaps) != 1 || s.Gaps[0].Missing != "000000010000000000000004" || len(s.Problems) != 2 {
		t.Fatalf("%+v", s)
	}

	// Without a base backup the chain starts at the oldest segment present.
	s = &BackupStatus{}
	s.chainFrom(seen, nil)
	if s.Window != nil || len(s.Gaps) != 1 || s.Gaps[0].After != "000000010000000000000003" || s.Gaps[0].Resume != "000000010000000000000005" {
		t.Fatalf("%+v", s)
	}
}

// TestStatusRun: status --dir reads the pod and the directory, names the gap
// and exits 1; -o prometheus prints the gauges.
func TestStatusRun(t *testing.T) {
	dir := t.TempDir()
	pod := &walPod{files: map[string][]byte{
		"000000010000000000000003": segmentData(3),
		"000000010000000000000005": segmentData(5),
	}, archiver: "2\t000000010000000000000005\t1786000000\t0\t\t"}
	if _, err := runWALSync(t, pod, dir); err != nil {
		t.Fatal(err)
	}
	info := baseInfo(walNS, time.Unix(1785990000, 0).UTC())
	raw, _ := info.Marshal()
	if err := os.WriteFile(filepath.Join(dir, info.Name+MetadataSuffix), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(format string) (string, error) {
		tt := clitest.New(walNS, postgresPod(walNS))
		o := NewStatusOptions(tt.Global)
		o.Executor, o.Dir, o.Print.Output = pod, dir, format
		if err := o.Complete(nil, nil); err != nil {
			t.Fatal(err)
		}
		if err := o.Validate(); err != nil {
			t.Fatal(err)
		}
		err := o.Run(context.Background())
		out, _ := tt.Output()
		return out, err
	}
	out, err := run("json")
	if ce, _ := err.(*cli.Error); ce == nil || ce.Code != cli.ExitFailed {
		t.Fatalf("status with a gap: %v", err)
	}
	var s BackupStatus
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatal(err)
	}
	if len(s.Gaps) != 1 || s.Gaps[0].Missing != "000000010000000000000004" || s.Window != nil ||
		s.Target == nil || s.Target.BaseBackup == nil || s.Target.LastSyncedSegment != "000000010000000000000005" ||
		s.Archive == nil || s.Archive.Volume.UsedPercent != 90 || s.Archiver.ArchivedCount != 2 {
		t.Fatalf("%s", out)
	}
	out, _ = run(Prometheus)
	for _, want := range []string{
		`piyasa_backup_last_base_backup_timestamp_seconds{namespace="` + walNS + `"} 1785990000`,
		`piyasa_wal_last_archived_timestamp_seconds{namespace="` + walNS + `"} 1786000000`,
		`piyasa_wal_archive_failures_total{namespace="` + walNS + `"} 0`,
		`piyasa_backup_last_verified_restore_timestamp_seconds{namespace="` + walNS + `"} 0`,
		`piyasa_wal_gaps{namespace="` + walNS + `"} 1`,
		`piyasa_postgres_up{namespace="` + walNS + `"} 1`,
		"# TYPE piyasa_wal_last_synced_timestamp_seconds gauge",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("lacks %q:\n%s", want, out)
		}
	}

	// The missing segment arrives: no gap, a window, exit 0.
	pod.files["000000010000000000000004"] = segmentData(4)
	if _, err := runWALSync(t, pod, dir); err != nil {
		t.Fatal(err)
	}
	out, err = run("table")
	if err != nil || !strings.Contains(out, "GAPS             none") || !strings.Contains(out, "WINDOW           2026-") {
		t.Fatalf("%v\n%s", err, out)
	}
}

// TestWindowFromTheOldestBaseBackup: the window starts at the oldest base
// backup whose chain reaches the newest's end; an older one kept without its
// WAL is a problem naming it.
func TestWindowFromTheOldestBaseBackup(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	base := func(name string, seg int, end time.Time) *BackupInfo {
		b := baseInfo(walNS, end)
		b.Name = name
		b.WAL = &WALRange{Timeline: 1, StartLSN: fmt.Sprintf("0/%X000028", seg), EndLSN: fmt.Sprintf("0/%X000100", seg),
			StartSegment: fmt.Sprintf("0000000100000000000000%02X", seg)}
		return b
	}
	bases := []*BackupInfo{base("a", 2, t0.Add(time.Minute)), base("b", 5, t0.Add(5*time.Minute)), base("c", 7, t0.Add(7*time.Minute))}
	seen := walSeen{}
	for _, n := range []int{2, 3, 5, 6, 7, 8} {
		seen.Add(fmt.Sprintf("0000000100000000000000%02X", n), t0.Add(time.Duration(n)*time.Minute))
	}
	s := &BackupStatus{}
	s.chainFrom(seen, bases)
	if s.Window == nil || s.Window.BaseBackup != "b" || !s.Window.From.Equal(t0.Add(5*time.Minute)) || !s.Window.To.Equal(t0.Add(8*time.Minute)) {
		t.Fatalf("window %+v", s.Window)
	}
	if len(s.Problems) != 1 || !strings.Contains(s.Problems[0], "after base backup a (kept") || !strings.Contains(s.Problems[0], "000000010000000000000002") {
		t.Fatalf("problems %q", s.Problems)
	}

	seen.Add("000000010000000000000004", t0.Add(4*time.Minute))
	s = &BackupStatus{}
	s.chainFrom(seen, bases)
	if s.Window == nil || s.Window.BaseBackup != "a" || !s.Window.From.Equal(t0.Add(time.Minute)) || len(s.Problems) != 0 {
		t.Fatalf("whole chain: %+v %q", s.Window, s.Problems)
	}
}
