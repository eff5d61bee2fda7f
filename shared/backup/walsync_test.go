package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	corev1 "k8s.io/api/core/v1"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/walarchive"
)

const walNS = "piyasa-chatbot-dev"

// walPod plays the postgres pod's WAL archive: listing, copies, df and psql.
type walPod struct {
	files map[string][]byte
	// corrupt names a file whose copy arrives altered (the pod's sha256 is of the original).
	corrupt string
	copies  []string
	// archiver is the pg_stat_archiver row psql returns.
	archiver string
}

func (p *walPod) Exec(_ context.Context, _ *corev1.Pod, _ string, cmd []string, _ io.Reader, stdout, stderr io.Writer) error {
	switch {
	case len(cmd) == 4 && cmd[2] == walListScript:
		names := make([]string, 0, len(p.files))
		for n := range p.files {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			fmt.Fprintf(stdout, "%d %d %s\n", len(p.files[n]), 1786000000, n)
		}
		fmt.Fprintln(stdout, "16 1786000000 000000010000000000000009.part") // archive_command's temporary name: not listed
		fmt.Fprintln(stdout, walListEnd)
	case len(cmd) == 5 && cmd[2] == walCopyScript:
		name := cmd[4]
		p.copies = append(p.copies, name)
		data := p.files[name]
		sum := sha256.Sum256(data)
		out := data
		if name == p.corrupt {
			out = append([]byte{}, data...)
			out[0] ^= 1
		}
		stdout.Write(out)
		fmt.Fprintf(stderr, "%s rc=0 tee=0 bytes=%d sha256=%s\n", StatusMarker, len(data), hex.EncodeToString(sum[:]))
	case len(cmd) == 3 && cmd[2] == walDFScript:
		fmt.Fprintln(stdout, "Filesystem 1024-blocks Used Available Capacity Mounted on")
		fmt.Fprintln(stdout, "/dev/sdb 1000 900 100 90% /var/lib/postgresql/wal-archive")
	default:
		if strings.Contains(strings.Join(cmd, " "), "pg_stat_archiver") {
			fmt.Fprintln(stdout, p.archiver)
			return nil
		}
		return fmt.Errorf("unexpected command %q", cmd)
	}
	return nil
}

func segmentData(b byte) []byte { return bytes.Repeat([]byte{b}, walarchive.SegmentSize) }

func runWALSync(t *testing.T, pod *walPod, dir string) (*WALSyncResult, error) {
	t.Helper()
	tt := clitest.New(walNS, postgresPod(walNS))
	o := NewWALSyncOptions(tt.Global)
	o.Executor, o.Dir = pod, dir
	if err := o.Complete(NewCmdWALSync(tt.Global), nil); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	return o.syncOnce(context.Background())
}

// TestWALSync: the sync copies what the target lacks, each with its sidecar;
// a rerun copies nothing; a copy whose bytes differ from the pod's sha256 is
// not kept (no file, no sidecar), and the next sync copies it.
func TestWALSync(t *testing.T) {
	dir := t.TempDir()
	pod := &walPod{files: map[string][]byte{
		"000000010000000000000001": segmentData(1),
		"000000010000000000000002": segmentData(2),
		"00000002.history":         []byte("1\t0/3000000\tno recovery target specified\n"),
	}, corrupt: "000000010000000000000002"}
	res, err := runWALSync(t, pod, dir)
	var ce *cli.Error
	if err == nil || !strings.Contains(err.Error(), "sha256") || !strings.Contains(err.Error(), "1 WAL file was copied before it") {
		t.Fatalf("corrupt copy: %v", err)
	}
	if ce, _ = err.(*cli.Error); ce == nil || ce.Code != cli.ExitFailed {
		t.Fatalf("corrupt copy: exit %v", err)
	}
	walDir := filepath.Join(dir, WALDir, walNS)
	for _, n := range dirNames(t, walDir) {
		if strings.Contains(n, "000000010000000000000002") {
			t.Errorf("the rejected copy left %s", n)
		}
	}
	if res.Copied != 1 {
		t.Errorf("copied %d before the failure", res.Copied)
	}

	pod.corrupt, pod.copies = "", nil
	res, err = runWALSync(t, pod, dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Copied != 2 || res.Skipped != 1 || res.LastSegment != "000000010000000000000002" ||
		strings.Join(pod.copies, ",") != "000000010000000000000002,00000002.history" {
		t.Fatalf("second sync %+v, copies %v", res, pod.copies)
	}
	for n, data := range pod.files {
		got, err := os.ReadFile(filepath.Join(walDir, n))
		if err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: %v", n, err)
		}
		sum := sha256.Sum256(data)
		sha, size, err := ReadWALSidecar(context.Background(), DirTarget{Dir: walDir}, n)
		if err != nil || sha != hex.EncodeToString(sum[:]) || size != int64(len(data)) {
			t.Errorf("%s sidecar: %s %d %v", n, sha, size, err)
		}
	}

	pod.copies = nil
	res, err = runWALSync(t, pod, dir)
	if err != nil || res.Copied != 0 || res.Skipped != 3 || len(pod.copies) != 0 {
		t.Fatalf("rerun: %+v %v copies %v", res, err, pod.copies)
	}
	// A file without its sidecar does not count: it is copied again.
	if err := os.Remove(filepath.Join(walDir, "000000010000000000000001"+WALSidecarSuffix)); err != nil {
		t.Fatal(err)
	}
	res, err = runWALSync(t, pod, dir)
	if err != nil || res.Copied != 1 || res.Files[0] != "000000010000000000000001" {
		t.Fatalf("after losing a sidecar: %+v %v", res, err)
	}
}

// TestWALSyncRejectsShortSegment: a segment that is not 16 MiB is not kept.
func TestWALSyncRejectsShortSegment(t *testing.T) {
	dir := t.TempDir()
	pod := &walPod{files: map[string][]byte{"000000010000000000000001": []byte("short")}}
	if _, err := runWALSync(t, pod, dir); err == nil || !strings.Contains(err.Error(), "not 16777216") {
		t.Fatalf("short segment: %v", err)
	}
	if names, _ := os.ReadDir(filepath.Join(dir, WALDir, walNS)); len(names) != 0 {
		t.Errorf("left %v", names)
	}
}

func TestWALSyncValidate(t *testing.T) {
	tests := []struct {
		dir, to, out string
		follow       bool
		interval     time.Duration
		ok           bool
	}{
		{dir: "d", ok: true},
		{to: "s3://b/p", follow: true, interval: 2 * time.Second, ok: true},
		{},
		{dir: "d", to: "s3://b/p"},
		{to: "/tmp/x"},
		{dir: "d", interval: 5 * time.Second},
		{dir: "d", follow: true, interval: 10 * time.Millisecond},
		{dir: "d", out: "wide"},
	}
	for _, tc := range tests {
		tt := clitest.New(walNS)
		o := NewWALSyncOptions(tt.Global)
		o.Dir, o.To, o.Follow = tc.dir, tc.to, tc.follow
		if tc.interval != 0 {
			o.Interval = tc.interval
		}
		if tc.out != "" {
			o.Print.Output = tc.out
		}
		if err := o.Complete(nil, nil); err != nil {
			t.Fatal(err)
		}
		err := o.Validate()
		if (err == nil) != tc.ok {
			t.Errorf("%+v: %v", tc, err)
		}
		if ce, _ := err.(*cli.Error); err != nil && (ce == nil || ce.Code != cli.ExitUsage) {
			t.Errorf("%+v: %v is not a usage error", tc, err)
		}
	}
}

func TestParseWALList(t *testing.T) {
	out := "16777216 1786000000 000000010000000000000003\n41 1786000001 00000002.history\n" +
		"16777216 1786000002 000000010000000000000004.part\n16777216 1786000003 000000010000000000000003.00000028.backup\n" + walListEnd + "\n"
	files, err := ParseWALList([]byte(out))
	if err != nil || len(files) != 2 || files[1].Name != "00000002.history" || files[0].Size != walarchive.SegmentSize ||
		!files[0].Modified.Equal(time.Unix(1786000000, 0)) {
		t.Fatalf("%+v %v", files, err)
	}
	if _, err := ParseWALList([]byte("16777216 1786000000 000000010000000000000003\n")); err == nil {
		t.Error("a listing without its end was taken")
	}
	if _, err := ParseWALList([]byte("garbage\n" + walListEnd + "\n")); err == nil {
		t.Error("a garbage line was taken")
	}
	if files, err := ParseWALList([]byte(walListEnd + "\n")); err != nil || len(files) != 0 {
		t.Errorf("empty archive: %v %v", files, err)
	}
}

func TestSyncedWALAndSidecar(t *testing.T) {
	entries := []Entry{
		{Name: "000000010000000000000001"}, {Name: "000000010000000000000001.sha256"},
		{Name: "000000010000000000000002"}, // no sidecar yet
		{Name: "000000010000000000000003.age"}, {Name: "000000010000000000000003.age.sha256"},
		{Name: "notes.txt"}, {Name: "notes.txt.sha256"},
	}
	got := SyncedWAL(entries)
	if len(got) != 2 || got["000000010000000000000003"].Name != "000000010000000000000003.age" {
		t.Fatalf("%v", got)
	}
	sha := strings.Repeat("ab", 32)
	if s, n, err := ParseSidecar(sidecarLine(sha, 16777216)); err != nil || s != sha || n != 16777216 {
		t.Errorf("%s %d %v", s, n, err)
	}
	for _, bad := range []string{"", sha, sha + "  -1", "abc  12", sha + "  12 extra"} {
		if _, _, err := ParseSidecar(bad); err == nil {
			t.Errorf("sidecar %q taken", bad)
		}
	}
}

// cancelAfterLists cancels the context on the n-th listing of the archive.
type cancelAfterLists struct {
	*walPod
	n, lists int
	cancel   context.CancelFunc
}

func (c *cancelAfterLists) Exec(ctx context.Context, pod *corev1.Pod, container string, cmd []string, in io.Reader, stdout, stderr io.Writer) error {
	if len(cmd) == 4 && cmd[2] == walListScript {
		c.lists++
		if c.lists == c.n {
			c.cancel()
			return ctx.Err()
		}
		if c.lists == 2 { // a new segment between two rounds
			c.files["000000010000000000000002"] = segmentData(2)
		}
	}
	return c.walPod.Exec(ctx, pod, container, cmd, in, stdout, stderr)
}

// TestWALSyncFollow: --follow syncs round after round (a new segment is
// copied in the next round) until Ctrl-C, which ends it silently with 130.
func TestWALSyncFollow(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ex := &cancelAfterLists{walPod: &walPod{files: map[string][]byte{"000000010000000000000001": segmentData(1)}}, n: 4, cancel: cancel}
	tt := clitest.New(walNS, postgresPod(walNS))
	o := NewWALSyncOptions(tt.Global)
	o.Executor, o.Dir, o.Follow, o.Print.Output = ex, dir, true, "json"
	if err := o.Complete(nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	o.Interval = 10 * time.Millisecond
	err := o.Run(ctx)
	if ce, _ := err.(*cli.Error); ce == nil || ce.Code != cli.ExitInterrupted || !ce.Silent {
		t.Fatalf("Ctrl-C: %v", err)
	}
	out, _ := tt.Output()
	// Round 1 copies 01, round 2 copies 02, round 3 copies nothing (not printed).
	if strings.Count(out, `"kind": "WALSyncResult"`) != 2 || !strings.Contains(out, `"lastSegment": "000000010000000000000002"`) {
		t.Fatalf("output:\n%s", out)
	}
	if strings.Join(ex.copies, ",") != "000000010000000000000001,000000010000000000000002" {
		t.Errorf("copies %v", ex.copies)
	}
}

// TestWALSyncEncrypted: with --encrypt-to each file is stored as <name>.age,
// its sidecar describes the ciphertext, it decrypts to the pod's bytes, and
// a rerun (unencrypted or not) copies nothing: the segment counts as synced.
func TestWALSyncEncrypted(t *testing.T) {
	k := newTestKey(t)
	dir := t.TempDir()
	seg1 := "000000010000000000000001"
	pod := &walPod{files: map[string][]byte{seg1: segmentData(7)}}
	tt := clitest.New(walNS, postgresPod(walNS))
	o := NewWALSyncOptions(tt.Global)
	o.Executor, o.Dir, o.Encrypt.To = pod, dir, []string{k.recipient}
	if err := o.Complete(NewCmdWALSync(tt.Global), nil); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	walDir := filepath.Join(dir, WALDir, walNS)
	if names := strings.Join(dirNames(t, walDir), ","); names != seg1+".age,"+seg1+".age.sha256" {
		t.Fatalf("stored %s", names)
	}
	ct, _ := os.ReadFile(filepath.Join(walDir, seg1+".age"))
	side, _ := os.ReadFile(filepath.Join(walDir, seg1+".age.sha256"))
	if sum, n, err := ParseSidecar(string(side)); err != nil || sum != sha(ct) || n != int64(len(ct)) {
		t.Errorf("sidecar %q does not describe the stored file (%d bytes): %v", side, len(ct), err)
	}
	if bytes.Contains(ct, segmentData(7)[:64]) {
		t.Error("the stored file holds the plaintext")
	}
	r, err := age.Decrypt(bytes.NewReader(ct), k.id)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(r); !bytes.Equal(got, segmentData(7)) {
		t.Error("the stored file does not decrypt to the pod's segment")
	}
	pod.copies = nil
	if res, err := runWALSync(t, pod, dir); err != nil || res.Copied != 0 || res.Skipped != 1 {
		t.Errorf("rerun: %+v %v", res, err)
	}
}
