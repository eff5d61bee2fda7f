package backup

import (
	"context"
	"io"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

// existingDBExec plays a postgres pod where the database asked for exists.
type existingDBExec struct{ fakeExec }

func (e *existingDBExec) Exec(ctx context.Context, p *corev1.Pod, c string, cmd []string, in io.Reader, stdout, stderr io.Writer) error {
	if strings.Contains(strings.Join(cmd, " "), "CREATE DATABASE") {
		_, _ = io.WriteString(stderr, `ERROR:  database "copy" already exists`+"\n")
		return io.ErrUnexpectedEOF
	}
	return e.fakeExec.Exec(ctx, p, c, cmd, in, stdout, stderr)
}

// TestToDatabaseExistingIsBadInput: --to-database naming an existing
// database is bad input, exit 2, with a hint.
func TestToDatabaseExistingIsBadInput(t *testing.T) {
	file := filepath.Join(t.TempDir(), "b.sql.zst")
	ex := &existingDBExec{fakeExec{stdout: sampleDump}}
	o, _ := newCreate(t, ex, "-f", file)
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	tg := clitest.New("piyasa-chatbot-dev", postgresPod("piyasa-chatbot-dev"))
	_ = tg.Global.Complete()
	r := NewRestoreOptions(tg.Global)
	r.Executor, r.ToDatabase = ex, "copy"
	if err := r.Complete(nil, []string{file}); err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	err := r.Run(context.Background())
	if exitCode(err) != cli.ExitUsage || !strings.Contains(err.Error(), "already exists") || !strings.Contains(err.(*cli.Error).Hint, "dropdb") {
		t.Fatalf("err %v", err)
	}
}
