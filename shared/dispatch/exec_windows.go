//go:build windows

package dispatch

import (
	"errors"
	"os"
	"os/exec"
	"os/signal"

	"github.com/piyasa/kubectl-piyasa/shared/exit"
)

// execSubcommand runs the subcommand with the dispatcher's streams, forwards
// Ctrl-C to it, and returns its non-zero exit code as an exit.Code error
// (Windows cannot replace a process).
func execSubcommand(path string, args []string) error {
	cmd := exec.Command(path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	defer signal.Stop(sig)
	if err := cmd.Start(); err != nil {
		return exit.Failedf("cannot run %s: %v", path, err)
	}
	go func() {
		for s := range sig {
			_ = cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ee.ExitCode() == 0 {
			return nil
		}
		return exit.Code(ee.ExitCode())
	}
	if err != nil {
		return exit.Code(exit.ExitFailed)
	}
	return nil
}
