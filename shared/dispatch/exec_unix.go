//go:build !windows

package dispatch

import (
	"fmt"
	"os"
	"syscall"
)

// execSubcommand replaces the dispatcher with the subcommand, so that
// signals, standard streams and the exit code are the subcommand's own.
func execSubcommand(path string, args []string) int {
	err := syscall.Exec(path, append([]string{path}, args...), os.Environ())
	fmt.Fprintf(os.Stderr, "error: cannot run %s: %v\n", path, err)
	return 1
}
