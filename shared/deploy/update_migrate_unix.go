//go:build !windows

package deploy

import (
	"os"
	"syscall"
)

// childProcAttr puts the child in its own process group: a Ctrl-C on the
// terminal then reaches only this process, which passes it on once (a second
// signal would make the child stop at once, before releasing the lock).
func childProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

// terminate asks the child to stop, as Ctrl-C does.
func terminate(p *os.Process) error { return p.Signal(syscall.SIGTERM) }
