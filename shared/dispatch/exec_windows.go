//go:build windows

package dispatch

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
)

// execSubcommand runs the subcommand with the dispatcher's streams, forwards
// Ctrl-C to it, and returns its exit code (Windows cannot replace a process).
func execSubcommand(path string, args []string) int {
	cmd := exec.Command(path, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	defer signal.Stop(sig)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "error: cannot run %s: %v\n", path, err)
		return 1
	}
	go func() {
		for s := range sig {
			_ = cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	if err != nil {
		return 1
	}
	return 0
}
