//go:build !windows

package deploy

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
)

func script(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "kubectl-piyasa-migrate")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRunChildStreamsAndExitCode: the child's stdout is returned, its stderr
// passed on, its exit code and a death by signal reported.
func TestRunChildStreamsAndExitCode(t *testing.T) {
	p := script(t, `echo "backup first: dumping" >&2
printf '{"kind":"MigrationRun"}\n'
echo "args: $*" >&2
exit 3
`)
	var errOut bytes.Buffer
	out, code, err := runChild(context.Background(), p, []string{"up", "--to=head"}, &errOut)
	if err != nil || code != 3 || string(out) != "{\"kind\":\"MigrationRun\"}\n" {
		t.Fatalf("code %d, err %v, stdout %q", code, err, out)
	}
	if errOut.String() != "backup first: dumping\nargs: up --to=head\n" {
		t.Errorf("stderr %q", errOut.String())
	}
	if _, code, err := runChild(context.Background(), script(t, "kill -KILL $$\n"), nil, &errOut); err != nil || code != killed {
		t.Errorf("killed child: code %d, err %v", code, err)
	}
	if _, _, err := runChild(context.Background(), filepath.Join(t.TempDir(), "missing"), nil, &errOut); err == nil {
		t.Error("a missing binary ran")
	}
}

// signalWriter cancels when the child says it is ready.
type signalWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	cancel context.CancelFunc
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if strings.Contains(w.buf.String(), "ready\n") {
		w.cancel()
	}
	return len(p), nil
}

func (w *signalWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// TestRunChildPassesTheSignalOnce: cancelling (Ctrl-C or SIGTERM to deploy)
// sends the child SIGTERM, which it handles (exit 130); it runs in its own
// process group, so a terminal's Ctrl-C does not reach it a second time.
func TestRunChildPassesTheSignalOnce(t *testing.T) {
	if _, err := exec.LookPath("ps"); err != nil {
		t.Skip("no ps")
	}
	p := script(t, `trap 'echo "TERM pid $$ pgid $(ps -o pgid= -p $$ | tr -d " ")" >&2; exit 130' TERM
echo ready >&2
while :; do sleep 0.05; done
`)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := &signalWriter{cancel: cancel}
	_, code, err := runChild(ctx, p, nil, w)
	if err != nil || code != 130 {
		t.Fatalf("code %d, err %v\n%s", code, err, w.String())
	}
	var pid, pgid int
	for _, l := range strings.Split(w.String(), "\n") {
		if f := strings.Fields(l); len(f) == 5 && f[0] == "TERM" {
			pid, _ = strconv.Atoi(f[2])
			pgid, _ = strconv.Atoi(f[4])
		}
	}
	if pid == 0 || pgid != pid {
		t.Errorf("the child is not the leader of its own process group (pid %d, pgid %d):\n%s", pid, pgid, w.String())
	}
}
