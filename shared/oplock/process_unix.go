//go:build !windows

package oplock

import (
	"errors"
	"syscall"
)

// processAlive says whether process pid exists on this machine: a signal 0
// reaches it, or is refused for want of permission (it exists, as another user's).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
