package backup

import (
	"context"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

// fullTarget is a directory whose files take limit bytes, then fail as a full disk does.
type fullTarget struct {
	DirTarget
	limit int
}

func (f fullTarget) Create(ctx context.Context, name string) (Sink, error) {
	s, err := f.DirTarget.Create(ctx, name)
	if err != nil {
		return nil, err
	}
	return &fullSink{Sink: s, left: f.limit}, nil
}

type fullSink struct {
	Sink
	left int
}

func (s *fullSink) Write(p []byte) (int, error) {
	if len(p) > s.left {
		n, _ := s.Sink.Write(p[:s.left])
		s.left = 0
		return n, &os.PathError{Op: "write", Path: "/backups/.x.partial-1", Err: syscall.ENOSPC}
	}
	s.left -= len(p)
	return s.Sink.Write(p)
}

// cutExec plays a pod whose exec stream is cut off half-way, as a killed API server does.
type cutExec struct{ stdout string }

func (c *cutExec) Exec(_ context.Context, _ *corev1.Pod, _ string, _ []string, _ io.Reader, stdout, _ io.Writer) error {
	_, _ = io.WriteString(stdout, c.stdout[:len(c.stdout)/2])
	return io.ErrUnexpectedEOF
}

// TestDiskFullNamesTheTarget: a target that fills up fails the backup with
// exit 1, naming the final path and the system's reason, and leaves nothing.
func TestDiskFullNamesTheTarget(t *testing.T) {
	dir := t.TempDir()
	tg := clitest.New("piyasa-chatbot-dev", postgresPod("piyasa-chatbot-dev"))
	_ = tg.Global.Complete()
	o := NewCreateOptions(tg.Global)
	o.Executor, o.Dir, o.Compress = &fakeExec{stdout: sampleDump}, dir, "none"
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	o.target = fullTarget{DirTarget: DirTarget{Dir: dir}, limit: 100}
	err := o.Run(context.Background())
	var e *cli.Error
	if !asError(err, &e) || e.Code != cli.ExitFailed {
		t.Fatalf("err %v", err)
	}
	want := "cannot write " + DirTarget{Dir: dir}.Location(DefaultName("piyasa-chatbot-dev", clitest.Fixed, None)) + ": no space left on device"
	if !strings.HasPrefix(e.Msg, want) || strings.Contains(e.Msg, "partial") {
		t.Errorf("message %q, want it to start with %q", e.Msg, want)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left %v", ents)
	}
}

// TestLostConnectionIsExit3: an exec stream cut off by the connection is exit 3, and leaves nothing.
func TestLostConnectionIsExit3(t *testing.T) {
	dir := t.TempDir()
	tg := clitest.New("piyasa-chatbot-dev", postgresPod("piyasa-chatbot-dev"))
	_ = tg.Global.Complete()
	o := NewCreateOptions(tg.Global)
	o.Executor, o.Dir = &cutExec{stdout: sampleDump}, dir
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	err := o.Run(context.Background())
	var e *cli.Error
	if !asError(err, &e) || e.Code != cli.ExitCluster || !strings.Contains(e.Msg, "the connection was lost during the dump (unexpected EOF); nothing was written") {
		t.Fatalf("err %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("left %v", ents)
	}
}
