package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

// fakeExec plays the pod: it writes a dump to stdout and a status line to stderr.
type fakeExec struct {
	stdout string
	status string // "" = computed from stdout with rc 0
	cmd    []string
}

func (f *fakeExec) Exec(_ context.Context, _ *corev1.Pod, _ string, cmd []string, _ io.Reader, stdout, stderr io.Writer) error {
	f.cmd = cmd
	io.WriteString(stdout, f.stdout)
	st := f.status
	if st == "" {
		sum := sha256.Sum256([]byte(f.stdout))
		st = fmt.Sprintf("%s rc=0 tee=0 bytes=%d sha256=%s", StatusMarker, len(f.stdout), hex.EncodeToString(sum[:]))
	}
	io.WriteString(stderr, st+"\n")
	return nil
}

func postgresPod(ns string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "dev-postgres-1", Namespace: ns, Labels: map[string]string{"app": "postgres"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "postgres", Image: "postgres:16-alpine"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

func TestDumpWritesBackupAndInfo(t *testing.T) {
	dir := t.TempDir()
	tg := clitest.New("piyasa-chatbot-dev", postgresPod("piyasa-chatbot-dev"))
	if err := tg.Global.Complete(); err != nil {
		t.Fatal(err)
	}
	ex := &fakeExec{stdout: sampleDump}
	o := NewCreateOptions(tg.Global)
	o.Executor = ex
	o.Dir = dir
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if strings.Join(ex.cmd[:2], " ") != "sh -c" || !strings.Contains(ex.cmd[2], `"${PGPASSWORD:-${POSTGRES_PASSWORD:-}}"`) ||
		strings.Join(ex.cmd[4:], " ") != "--no-owner --no-acl --clean --if-exists --format=plain --dbname=piyasa_db" {
		t.Errorf("command %q", ex.cmd)
	}
	name := DefaultName("piyasa-chatbot-dev", clitest.Fixed, Zstd)
	raw, err := os.ReadFile(filepath.Join(dir, name+MetadataSuffix))
	if err != nil {
		t.Fatal(err)
	}
	info, err := ParseInfo(raw)
	if err != nil {
		t.Fatal(err)
	}
	if info.RawBytes != int64(len(sampleDump)) || info.TableMap()["public.alembic_version"] != 1 || info.AlembicRevision != "abc123" ||
		info.BackupKind != KindManual {
		t.Errorf("info %+v", info)
	}
	res, err := checkStored(context.Background(), Location{Target: DirTarget{Dir: dir}, Name: name}, nil)
	if err != nil || len(res.Problems) != 0 {
		t.Fatalf("check: %v %v", err, res)
	}
}

func TestDumpRejectsAndLeavesNothing(t *testing.T) {
	sum := sha256.Sum256([]byte(sampleDump))
	h := hex.EncodeToString(sum[:])
	cut := sampleDump[:len(sampleDump)/2]
	for name, ex := range map[string]*fakeExec{
		"pg_dump failed": {stdout: sampleDump, status: fmt.Sprintf("%s rc=1 tee=0 bytes=%d sha256=%s", StatusMarker, len(sampleDump), h)},
		"bytes lost":     {stdout: cut, status: fmt.Sprintf("%s rc=0 tee=0 bytes=%d sha256=%s", StatusMarker, len(sampleDump), h)},
		"no status line": {stdout: sampleDump, status: "pg_dump: something"},
		"cut, status ok": {stdout: cut},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			tg := clitest.New("piyasa-chatbot-dev", postgresPod("piyasa-chatbot-dev"))
			_ = tg.Global.Complete()
			o := NewCreateOptions(tg.Global)
			o.Executor, o.Dir = ex, dir
			if err := o.Validate(); err != nil {
				t.Fatal(err)
			}
			err := o.Run(context.Background())
			var e *cli.Error
			if err == nil || !asError(err, &e) || e.Code != cli.ExitFailed {
				t.Fatalf("err %v", err)
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("left %v", ents)
			}
		})
	}
}

func asError(err error, e **cli.Error) bool { return errors.As(err, e) }

// newCreate returns `backup create` options on a fake cluster with a postgres
// pod, its flags parsed from args and completed as the command does.
func newCreate(t *testing.T, ex Executor, args ...string) (*CreateOptions, *clitest.T) {
	t.Helper()
	tg := clitest.New("piyasa-chatbot-dev", postgresPod("piyasa-chatbot-dev"))
	cmd := NewCmdCreate(tg.Global)
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatal(err)
	}
	o := NewCreateOptions(tg.Global)
	// NewCmdCreate bound its own options: read the parsed values back.
	f := cmd.Flags()
	o.File, _ = f.GetString("file")
	o.Dir, _ = f.GetString("dir")
	o.To, _ = f.GetString("to")
	o.Compress, _ = f.GetString("compress")
	o.Overwrite, _ = f.GetBool("overwrite")
	o.Executor = ex
	if err := o.Complete(cmd, nil); err != nil {
		t.Fatal(err)
	}
	return o, tg
}

func exitCode(err error) int {
	var e *cli.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return -1
}

// TestCreateFileInfersCompression: -f x.sql.gz without --compress is a gzip
// backup; a --compress that contradicts the name stays bad input.
func TestCreateFileInfersCompression(t *testing.T) {
	dir := t.TempDir()
	o, _ := newCreate(t, &fakeExec{stdout: sampleDump}, "-f", filepath.Join(dir, "b.sql.gz"))
	if err := o.Validate(); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "b.sql.gz"+MetadataSuffix))
	if err != nil {
		t.Fatal(err)
	}
	if info, err := ParseInfo(raw); err != nil || info.Compression != string(Gzip) {
		t.Errorf("info %+v, %v", info, err)
	}
	o, _ = newCreate(t, nil, "-f", filepath.Join(dir, "c.sql.gz"), "--compress", "zstd")
	if err := o.Validate(); exitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), "--compress zstd") {
		t.Errorf("contradicting --compress: %v", err)
	}
	o, _ = newCreate(t, nil, "-f", filepath.Join(dir, "c.dump"))
	if err := o.Validate(); exitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), ".sql.gz") {
		t.Errorf("unknown extension: %v", err)
	}
}

// TestCreateFileRefusesExisting: -f on an existing backup is refused with exit
// 2 and the file is untouched; --overwrite replaces it.
func TestCreateFileRefusesExisting(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "b.sql.zst")
	if err := os.WriteFile(file, []byte("earlier backup"), 0o600); err != nil {
		t.Fatal(err)
	}
	ex := &fakeExec{stdout: sampleDump}
	o, _ := newCreate(t, ex, "-f", file)
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	err := o.Run(context.Background())
	if exitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), "exists") ||
		!strings.Contains(err.(*cli.Error).Hint, "--overwrite") {
		t.Fatalf("err %v", err)
	}
	if b, _ := os.ReadFile(file); string(b) != "earlier backup" || ex.cmd != nil {
		t.Fatalf("replaced (%q) or dumped (%v)", b, ex.cmd)
	}
	o, _ = newCreate(t, ex, "-f", file, "--overwrite")
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(file); string(b) == "earlier backup" {
		t.Error("--overwrite did not replace the file")
	}
	o, _ = newCreate(t, ex, "--dir", dir, "--overwrite")
	if err := o.Validate(); exitCode(err) != cli.ExitUsage {
		t.Errorf("--overwrite with --dir: %v", err)
	}
}

// TestCreateSameInstantDistinctNames: two backups into one directory at the
// same clock time (the test clock is fixed) both stay, under names that sort.
func TestCreateSameInstantDistinctNames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	for i := 0; i < 2; i++ {
		o, tg := newCreate(t, &fakeExec{stdout: sampleDump}, "--dir", dir)
		if err := o.Validate(); err != nil {
			t.Fatal(err)
		}
		if err := o.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if out, _ := tg.Output(); !strings.HasPrefix(out, dir) {
			t.Fatalf("stdout %q", out)
		}
	}
	ents, err := DirTarget{Dir: dir}.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	first := DefaultName("piyasa-chatbot-dev", clitest.Fixed, Zstd)
	second := strings.TrimSuffix(first, ".sql.zst") + "-2.sql.zst"
	var names []string
	for _, e := range ents {
		names = append(names, e.Name)
	}
	if strings.Join(names, " ") != second+" "+first && strings.Join(names, " ") != first+" "+second {
		t.Errorf("backups %v, want %s and %s", names, first, second)
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("--dir created with mode %v (%v), want 0700", fi.Mode().Perm(), err)
	}
}

// TestCreateWithoutTargetHints: no target is bad input whose hint shows one.
func TestCreateWithoutTargetHints(t *testing.T) {
	o, _ := newCreate(t, nil)
	err := o.Validate()
	if exitCode(err) != cli.ExitUsage || !strings.Contains(err.(*cli.Error).Hint, "--dir ./backups") {
		t.Errorf("err %v", err)
	}
}

// cancelExec plays a dump that Ctrl-C stops half-way.
type cancelExec struct{ cancel context.CancelFunc }

func (c *cancelExec) Exec(_ context.Context, _ *corev1.Pod, _ string, _ []string, _ io.Reader, stdout, _ io.Writer) error {
	_, _ = io.WriteString(stdout, sampleDump[:len(sampleDump)/2])
	c.cancel()
	return context.Canceled
}

// TestCreateInterruptedSaysState: Ctrl-C during the dump exits 130 with a
// message that says nothing was written, no partial file is left and the
// database was not changed, and the directory holds nothing.
func TestCreateInterruptedSaysState(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o, _ := newCreate(t, &cancelExec{cancel: cancel}, "--dir", dir)
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	err := o.Run(ctx)
	if exitCode(err) != cli.ExitInterrupted {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{"nothing was written to " + dir, "no partial file is left", "the database was not changed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left %v", ents)
	}
}

// TestNoReplaceSinkRefusesAtCommit: a backup whose name appeared while it was
// written (another create) is not replaced; the temporary file goes.
func TestNoReplaceSinkRefusesAtCommit(t *testing.T) {
	dir := t.TempDir()
	s, err := DirTarget{Dir: dir, NoReplace: true}.Create(context.Background(), "b.sql")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(s, "new")
	if err := os.WriteFile(filepath.Join(dir, "b.sql"), []byte("other"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(context.Background()); !errors.Is(err, os.ErrExist) {
		t.Fatalf("commit: %v", err)
	}
	ents, _ := os.ReadDir(dir)
	if b, _ := os.ReadFile(filepath.Join(dir, "b.sql")); string(b) != "other" || len(ents) != 1 {
		t.Errorf("content %q, entries %v", b, ents)
	}
}

// A backup of a kind taken before a change is named for it, so that it never
// takes the name of a scheduled or manual backup of the same second.
func TestCreateNameOfKind(t *testing.T) {
	now := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	for kind, want := range map[string]string{
		KindManual:       "piyasa_db-ns-20261201T020000.000Z.sql.zst",
		KindScheduled:    "piyasa_db-ns-20261201T020000.000Z.sql.zst",
		KindPreMigration: "piyasa_db-ns-20261201T020000.000Z-pre-migration.sql.zst",
	} {
		if got := nameFor("ns", now, Zstd, kind); got != want || KindOf(got, nil) != map[bool]string{true: kind, false: KindManual}[kind != KindScheduled] {
			t.Errorf("%s: %s (read as %s), want %s", kind, got, KindOf(got, nil), want)
		}
	}
}

// The backup another command takes first (migrate --backup-first) is of kind
// pre-migration, named for it.
func TestCreateIsPreMigration(t *testing.T) {
	dir := t.TempDir()
	tg := clitest.New("piyasa-chatbot-dev", postgresPod("piyasa-chatbot-dev"))
	if err := tg.Global.Complete(); err != nil {
		t.Fatal(err)
	}
	info, err := Create(context.Background(), tg.Global, CreateSpec{Dir: dir, Executor: &fakeExec{stdout: sampleDump}})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, info.Name+MetadataSuffix))
	if err != nil {
		t.Fatal(err)
	}
	stored, err := ParseInfo(raw)
	if err != nil || stored.BackupKind != KindPreMigration || !strings.HasSuffix(info.Name, "-pre-migration.sql.zst") {
		t.Errorf("%s: kind %q (%v)", info.Name, stored.BackupKind, err)
	}
}
