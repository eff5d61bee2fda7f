package harness

import (
	"bytes"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Running is a command started in the background whose output the test
// watches, to signal it at a chosen phase (Ctrl-C is SIGINT; timeout(1), a
// CI runner or a container runtime send SIGTERM). `kubectl piyasa X` execs
// kubectl-piyasa-X, so once it has printed anything the process signalled is
// the plugin itself.
type Running struct {
	t              testing.TB
	c              *Cmd
	cmd            *exec.Cmd
	stdout, stderr *SyncBuffer
	done           chan struct{}
	err            error
}

// SyncBuffer is a buffer a running command writes while the test reads it.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *SyncBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *SyncBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Background starts the command; the test must end it with ExitWithin (a
// cleanup kills it if the test fails first).
func (c *Cmd) Background() *Running {
	c.t.Helper()
	r := &Running{t: c.t, c: c, stdout: &SyncBuffer{}, stderr: &SyncBuffer{}, done: make(chan struct{})}
	r.cmd = c.Start(r.stdout, r.stderr)
	go func() { r.err = r.cmd.Wait(); close(r.done) }()
	c.t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = r.cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

// Output is what the command printed so far.
func (r *Running) Output() (stdout, stderr string) { return r.stdout.String(), r.stderr.String() }

// WaitFor waits until the command's standard output or error holds substr
// (the phase to signal it in); it fails the test if the command ends first
// or substr does not come within d.
func (r *Running) WaitFor(substr string, d time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(d)
	for {
		out, errOut := r.Output()
		if strings.Contains(out, substr) || strings.Contains(errOut, substr) {
			return
		}
		select {
		case <-r.done:
			r.t.Fatalf("$ %s ended before printing %q:\nstdout:\n%s\nstderr:\n%s", r.c, substr, out, errOut)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("$ %s: no %q within %s:\nstdout:\n%s\nstderr:\n%s", r.c, substr, d, out, errOut)
		}
	}
}

// Signal sends sig to the command.
func (r *Running) Signal(sig syscall.Signal) {
	r.t.Helper()
	r.t.Logf("$ kill -%s %s", strings.TrimPrefix(sigName(sig), "SIG"), r.c)
	if err := r.cmd.Process.Signal(sig); err != nil {
		r.t.Fatalf("signal %s: %v", sigName(sig), err)
	}
}

// ExitWithin waits for the command to end and returns its result. If it
// has not ended within d (a bound that tells "ignored the signal" from
// "stopped", not a timing assertion), it is killed and the test fails.
func (r *Running) ExitWithin(d time.Duration) Result {
	r.t.Helper()
	start := time.Now()
	select {
	case <-r.done:
	case <-time.After(d):
		_ = r.cmd.Process.Kill()
		<-r.done
		out, errOut := r.Output()
		r.t.Fatalf("$ %s: still running %s after the signal (killed):\nstdout:\n%s\nstderr:\n%s", r.c, d, out, errOut)
	}
	out, errOut := r.Output()
	res := Result{Stdout: out, Stderr: errOut, Duration: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case errors.As(r.err, &ee):
		res.Code = ee.ExitCode() // -1 when a signal killed it
	case r.err != nil:
		r.t.Fatalf("$ %s: %v", r.c, r.err)
	}
	r.t.Logf("$ %s  # exit %d, %s after the signal", r.c, res.Code, res.Duration.Round(time.Millisecond))
	return res
}

// Signals are the two signals every wait of the suite must stop at: SIGINT
// (Ctrl-C) and SIGTERM.
var Signals = []syscall.Signal{syscall.SIGINT, syscall.SIGTERM}

func sigName(sig syscall.Signal) string {
	switch sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return fmt.Sprintf("signal %d", int(sig))
}

// SigName is "SIGINT" or "SIGTERM", for subtest names.
func SigName(sig syscall.Signal) string { return sigName(sig) }
