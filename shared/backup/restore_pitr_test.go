package backup

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/exit"
)

func TestParseTargetTime(t *testing.T) {
	for _, c := range []struct {
		in, want string
		bad      bool
	}{
		{in: "2026-12-06T17:00:05+01:00", want: "2026-12-06T16:00:05Z"},
		{in: "2026-12-06T17:00:05.25Z", want: "2026-12-06T17:00:05.25Z"},
		{in: "2026-12-06 17:00:05", want: "2026-12-06T17:00:05Z"},
		{in: "2026-12-06 17:00:05.5", want: "2026-12-06T17:00:05.5Z"},
		{in: "yesterday", bad: true},
		{in: "2026-13-06 17:00:05", bad: true},
	} {
		got, err := ParseTargetTime(c.in)
		if c.bad {
			var ce *cli.Error
			if !errors.As(err, &ce) || ce.Code != exit.ExitUsage {
				t.Errorf("%q: err %v, want a usage error", c.in, err)
			}
			continue
		}
		if err != nil || got.Format(time.RFC3339Nano) != c.want {
			t.Errorf("%q: %s %v, want %s", c.in, got.Format(time.RFC3339Nano), err, c.want)
		}
	}
	if s := pgTime(time.Date(2026, 12, 6, 17, 0, 5, 250000000, time.UTC)); s != "2026-12-06 17:00:05.25+00" {
		t.Errorf("pgTime: %s", s)
	}
}

func seg(n int) string { return "00000001000000000000000" + string("0123456789ABCDEF"[n]) }

// planWith is a plan over WAL segments 2..9 archived a minute apart from t0,
// with base backups ending at t0 and t0+4m starting at segments 2 and 6.
func planWith(t0 time.Time, drop ...int) (*pitrPlan, []baseRef) {
	p := &pitrPlan{}
	for n := 2; n <= 9; n++ {
		skip := false
		for _, d := range drop {
			skip = skip || d == n
		}
		if !skip {
			p.wal = append(p.wal, walFile{Name: seg(n), Time: t0.Add(time.Duration(n-2) * time.Minute), InArchive: n%2 == 0})
		}
	}
	bases := []baseRef{
		{Loc: Location{Target: DirTarget{Dir: "/b"}, Name: "late"}, Info: &BackupInfo{Namespace: "ns", EndTime: t0.Add(4 * time.Minute), WAL: &WALRange{Timeline: 1, StartSegment: seg(6)}}},
		{Loc: Location{Target: DirTarget{Dir: "/b"}, Name: "early"}, Info: &BackupInfo{Namespace: "ns", EndTime: t0, WAL: &WALRange{Timeline: 1, StartSegment: seg(2)}}},
	}
	return p, bases
}

func TestPITRPlanChooseAndChain(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 17, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name     string
		target   time.Time
		latest   bool
		drop     []int
		base     string
		from, to string
		copyIn   int
		refused  string
	}{
		{name: "between the base backups", target: t0.Add(150 * time.Second), base: "early", from: seg(2), to: seg(9), copyIn: 4}, // 5 is synced only (its time a sync's): through the run's end
		{name: "covered by the archive volume", target: t0.Add(90 * time.Second), base: "early", from: seg(2), to: seg(4), copyIn: 4},
		{name: "after the newest base backup", target: t0.Add(270 * time.Second), base: "late", from: seg(6), to: seg(9), copyIn: 2},
		{name: "latest", latest: true, base: "late", from: seg(6), to: seg(9), copyIn: 2},
		{name: "before the window", target: t0.Add(-time.Second), refused: "outside what can be restored: the recovery window is 2026-12-06T17:00:00Z to 2026-12-06T17:07:00Z"},
		{name: "after the window", target: t0.Add(8 * time.Minute), refused: "outside what can be restored"},
		{name: "gap before the target", target: t0.Add(150 * time.Second), drop: []int{3}, refused: "WAL segment " + seg(3) + " is missing (the archive goes from " + seg(2) + " to " + seg(4) + ")"},
		{name: "gap after the target", target: t0.Add(30 * time.Second), drop: []int{5}, base: "early", from: seg(2), to: seg(4), copyIn: 1},
		{name: "gap with --to-latest", latest: true, drop: []int{8}, refused: "WAL segment " + seg(8) + " is missing"},
		{name: "start segment missing", target: t0.Add(270 * time.Second), drop: []int{6}, refused: "WAL segment " + seg(6) + ", the start of base backup late"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, bases := planWith(t0, c.drop...)
			err := p.choose(bases, c.target, c.latest)
			if err == nil {
				err = p.checkChain(c.target, c.latest)
			}
			if c.refused != "" {
				var ce *cli.Error
				if !errors.As(err, &ce) || ce.Code != exit.ExitUsage || !strings.Contains(ce.Msg, c.refused) {
					t.Fatalf("err %v, want exit 2 with %q", err, c.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.baseLoc.Name != c.base || p.walFrom != c.from || p.walTo != c.to || len(p.copyIn) != c.copyIn {
				t.Errorf("base %s WAL %s..%s copy %d, want %s %s..%s %d", p.baseLoc.Name, p.walFrom, p.walTo, len(p.copyIn), c.base, c.from, c.to, c.copyIn)
			}
		})
	}
}

func TestParseArchiveList(t *testing.T) {
	files, d := parseArchiveList("W\t" + seg(2) + "\t1700000000\t16777216\nW\tjunk\t1\t2\nW\t00000002.history\t1700000100\t42\nD\t1048576\t40960\t1\n")
	if len(files) != 2 || !files[0].InArchive || files[0].Size != 16777216 || files[0].Time.Unix() != 1700000000 || d != (dataFacts{1048576, 40960, true}) {
		t.Errorf("files %+v data %+v", files, d)
	}
	if _, d := parseArchiveList("D\t5\t\t0\n"); d != (dataFacts{FreeKB: 5}) {
		t.Errorf("no data directory: %+v", d)
	}
}

// TestListOffClusterWAL: backup wal sync's layout is read: a file counts
// with its sidecar, its size and sum come from it, an encrypted one is
// counted and left out, one without a sidecar (a sync cut) is left out.
func TestListOffClusterWAL(t *testing.T) {
	dir := t.TempDir()
	wal := filepath.Join(dir, "wal", "ns")
	os.MkdirAll(wal, 0o755)
	sum := strings.Repeat("a", 64)
	for name, sidecar := range map[string]bool{seg(2): true, seg(3): false, seg(4) + ".age": true, "00000002.history": true} {
		os.WriteFile(filepath.Join(wal, name), []byte("x"), 0o644)
		if sidecar {
			os.WriteFile(filepath.Join(wal, name+".sha256"), []byte(sum+"  1\n"), 0o644)
		}
	}
	files, encrypted, err := listOffClusterWAL(context.Background(), DirTarget{Dir: dir}, "ns", false)
	sort.Slice(files, func(i, j int) bool { return files[i].Name < files[j].Name })
	if err != nil || encrypted != 1 || len(files) != 2 || files[0].Name != seg(2) || files[1].Name != "00000002.history" ||
		files[0].SHA256 != sum || files[0].Size != 1 || files[0].InArchive {
		t.Errorf("files %+v encrypted %d err %v", files, encrypted, err)
	}
	os.WriteFile(filepath.Join(wal, seg(2)+".sha256"), []byte("garbage\n"), 0o644)
	if _, _, err := listOffClusterWAL(context.Background(), DirTarget{Dir: dir}, "ns", false); err == nil || !strings.Contains(err.Error(), seg(2)+".sha256") {
		t.Errorf("a bad sidecar: %v", err)
	}
	if files, _, err := listOffClusterWAL(context.Background(), DirTarget{Dir: t.TempDir()}, "ns", false); err != nil || len(files) != 0 {
		t.Errorf("no wal folder: %v %v", files, err)
	}
}

// TestEncryptedWALForRestore: a segment that wal sync stored encrypted
// (<seg>.age, its sidecar describing the ciphertext) is listed only with
// identities, checked against its sidecar, and streamed as its plaintext
// with the plaintext's size and sha256; a damaged one is refused.
func TestEncryptedWALForRestore(t *testing.T) {
	k := newTestKey(t)
	dir := t.TempDir()
	wal := filepath.Join(dir, "wal", "ns")
	if err := os.MkdirAll(wal, 0o755); err != nil {
		t.Fatal(err)
	}
	plain := bytes.Repeat([]byte("wal!"), 4096)
	var ct bytes.Buffer
	w, err := age.Encrypt(&ct, k.id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	w.Write(plain)
	w.Close()
	name := seg(5) + EncryptedSuffix
	os.WriteFile(filepath.Join(wal, name), ct.Bytes(), 0o644)
	os.WriteFile(filepath.Join(wal, name+WALSidecarSuffix), []byte(sha(ct.Bytes())+"  "+strconv.Itoa(ct.Len())+"\n"), 0o644)

	if files, enc, err := listOffClusterWAL(context.Background(), DirTarget{Dir: dir}, "ns", false); err != nil || enc != 1 || len(files) != 0 {
		t.Fatalf("without identities: %v %d %v", files, enc, err)
	}
	files, _, err := listOffClusterWAL(context.Background(), DirTarget{Dir: dir}, "ns", true)
	if err != nil || len(files) != 1 || files[0].Name != seg(5) || files[0].Stored != name {
		t.Fatalf("with identities: %+v %v", files, err)
	}
	tg := clitest.New(devNS)
	o := NewRestoreOptions(tg.Global)
	o.Namespace = "ns"
	o.pitr.from = DirTarget{Dir: dir}
	o.ids = &Identities{ids: []age.Identity{k.id}, files: []string{k.file}}
	n, sum, err := o.encryptedWALSum(context.Background(), files[0])
	if err != nil || n != int64(len(plain)) || sum != sha(plain) {
		t.Fatalf("plaintext %d %s %v, want %d %s", n, sum, err, len(plain), sha(plain))
	}
	r, err := o.openWAL(context.Background(), files[0])
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Equal(got, plain) {
		t.Error("openWAL did not give the plaintext")
	}
	bad := files[0]
	bad.SHA256 = strings.Repeat("0", 64)
	if _, _, err := o.encryptedWALSum(context.Background(), bad); err == nil || !strings.Contains(err.Error(), "does not match its sidecar") {
		t.Errorf("a file that differs from its sidecar: %v", err)
	}
}
