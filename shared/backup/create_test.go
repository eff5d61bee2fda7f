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
	res, err := checkStored(context.Background(), Location{Target: DirTarget{Dir: dir}, Name: name})
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

// A backup of a kind taken before a change is named for it, so that it never
// takes the name of a scheduled or manual backup of the same second.
func TestCreateNameOfKind(t *testing.T) {
	now := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	for kind, want := range map[string]string{
		KindManual:       "piyasa_db-ns-20261201T020000Z.sql.zst",
		KindScheduled:    "piyasa_db-ns-20261201T020000Z.sql.zst",
		KindPreMigration: "piyasa_db-ns-20261201T020000Z-pre-migration.sql.zst",
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
