//go:build !windows

package dispatch

import (
	"os"
	"syscall"

	"github.com/piyasa/kubectl-piyasa/shared/exit"
)

// execSubcommand replaces the dispatcher with the subcommand, so that
// signals, standard streams and the exit code are the subcommand's own. It
// returns only when the subcommand cannot be run.
func execSubcommand(path string, args []string) error {
	err := syscall.Exec(path, append([]string{path}, args...), os.Environ())
	return exit.Failedf("cannot run %s: %v", path, err)
}
