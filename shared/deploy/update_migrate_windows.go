//go:build windows

package deploy

import (
	"os"
	"syscall"
)

// childProcAttr keeps the child on this console: Ctrl-C reaches it directly.
func childProcAttr() *syscall.SysProcAttr { return nil }

// terminate does nothing: Windows has no SIGTERM, and the console's Ctrl-C
// already reached the child; WaitDelay kills it if it does not end.
func terminate(*os.Process) error { return nil }
