package backup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/walarchive"
)

func TestPlanArchivePrune(t *testing.T) {
	var archive []ArchivedFile
	for n := uint32(1); n <= 8; n++ {
		archive = append(archive, ArchivedFile{Name: segName(n), Size: 16})
	}
	archive = append(archive, ArchivedFile{Name: "00000002.history", Size: 40})
	synced := map[string]bool{"00000002.history": true}
	for n := uint32(1); n <= 8; n++ {
		if n != 3 {
			synced[segName(n)] = true
		}
	}
	base := func(start uint32) *BackupInfo {
		return &BackupInfo{Name: "b", WAL: &WALRange{StartSegment: segName(start)}}
	}
	cases := []struct {
		name      string
		base      *BackupInfo
		force     bool
		remove    []uint32
		notSynced int
		wantErr   bool
		// pruned: the place holds only the segments from this one on (backup prune removed the older ones).
		pruned uint32
	}{
		{"before the base backup's start, synced only", base(5), false, []uint32{1, 2, 4}, 1, false, 0},
		{"a start past the newest segment: the newest stays", base(9), false, []uint32{1, 2, 4, 5, 6, 7}, 1, false, 0},
		{"no base backup: refused", nil, false, nil, 0, true, 0},
		{"no base backup, --force: every synced one but the newest", nil, true, []uint32{1, 2, 4, 5, 6, 7}, 1, false, 0},
		{"--force with a base backup goes by the base backup", base(2), true, []uint32{1}, 0, false, 0},
		{"older than every segment of the place: removed there by prune, gone here", base(6), false, []uint32{1, 2, 3, 4, 5}, 0, false, 4},
		{"the place's oldest segment counts: 3 missing after it stays", base(6), false, []uint32{1, 2, 4, 5}, 1, false, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := map[string]bool{}
			for n := range synced {
				if s, _ := segNo(n); s >= c.pruned {
					in[n] = true
				}
			}
			p, err := PlanArchivePrune(archive, in, c.base, c.force)
			if (err != nil) != c.wantErr {
				t.Fatalf("err %v, want error %v", err, c.wantErr)
			}
			if err != nil {
				return
			}
			var want []string
			for _, n := range c.remove {
				want = append(want, segName(n))
			}
			if strings.Join(p.Remove, " ") != strings.Join(want, " ") || p.NotSynced != c.notSynced ||
				p.Kept != 8-len(want) || p.Bytes != int64(16*len(want)) {
				t.Fatalf("plan %+v, want removed %v, %d not synced", p, want, c.notSynced)
			}
		})
	}
}

// prunePod is a walPod that also removes files as walRemoveScript does.
type prunePod struct {
	*walPod
	removes int
}

func (p *prunePod) Exec(ctx context.Context, pod *corev1.Pod, c string, cmd []string, in io.Reader, stdout, stderr io.Writer) error {
	if len(cmd) > 4 && cmd[2] == walRemoveScript {
		p.removes++
		for _, n := range cmd[4:] {
			delete(p.files, n)
		}
		return nil
	}
	return p.walPod.Exec(ctx, pod, c, cmd, in, stdout, stderr)
}

func runWALPrune(t *testing.T, pod *prunePod, dir string, dry cli.DryRun, force bool) (*WALPruneResult, error) {
	t.Helper()
	tt := clitest.New("piyasa-chatbot", postgresPod("piyasa-chatbot"))
	o := NewWALPruneOptions(tt.Global)
	o.Executor, o.Dir, o.DryRun, o.Force = pod, dir, dry, force
	o.Print.Output = "json"
	if err := tt.Global.Complete(); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	tt.Global.Out = &out
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.Run(context.Background()); err != nil {
		return nil, err
	}
	var res WALPruneResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	return &res, nil
}

// TestWALPruneRun: the pod's archive loses the synced segments before the
// newest good base backup's start (one exec), a dry run nothing; without a
// base backup it is refused (exit 2) and the pod untouched.
func TestWALPruneRun(t *testing.T) {
	dir := t.TempDir()
	pod := &prunePod{walPod: &walPod{files: map[string][]byte{}}}
	walDir := filepath.Join(dir, WALDir, "piyasa-chatbot")
	if err := os.MkdirAll(walDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for n := uint32(1); n <= 6; n++ {
		pod.files[segName(n)] = []byte("x")
		if n != 2 { // 2 is not synced yet
			for _, f := range []string{segName(n), segName(n) + WALSidecarSuffix} {
				os.WriteFile(filepath.Join(walDir, f), []byte("x"), 0o600)
			}
		}
	}
	_, err := runWALPrune(t, pod, dir, cli.DryRunNone, false)
	var ce *cli.Error
	if !errors.As(err, &ce) || ce.Code != cli.ExitUsage || !strings.Contains(err.Error(), "no base backup") || len(pod.files) != 6 {
		t.Fatalf("without a base backup: %v (%d files left)", err, len(pod.files))
	}
	writeTestBase(t, dir, "piyasa_db-piyasa-chatbot-1.base.tar.zst", day("2026-12-06"), 4, 4)
	res, err := runWALPrune(t, pod, dir, cli.DryRunClient, false)
	if err != nil || len(res.Remove) != 2 || !res.DryRun || len(pod.files) != 6 || pod.removes != 0 {
		t.Fatalf("dry run: %v %+v (%d files)", err, res, len(pod.files))
	}
	res, err = runWALPrune(t, pod, dir, cli.DryRunNone, false)
	if err != nil || res.KeepFrom != segName(4) || res.NotSynced != 1 || pod.removes != 1 {
		t.Fatalf("prune: %v %+v", err, res)
	}
	for _, n := range []uint32{1, 3} {
		if _, ok := pod.files[segName(n)]; ok {
			t.Errorf("%s not removed", segName(n))
		}
	}
	for _, n := range []uint32{2, 4, 5, 6} {
		if _, ok := pod.files[segName(n)]; !ok {
			t.Errorf("%s removed", segName(n))
		}
	}
}

// segNo is a segment name's number on timeline 1 (history files: 0).
func segNo(name string) (uint32, bool) {
	s, err := walarchive.ParseSegment(name)
	return s.Seg, err == nil
}
