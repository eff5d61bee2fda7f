package harness

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The creation lock is taken once however many of the package's API servers
// are down (a second flock in the process would wait forever), and released
// when the last one is up again.
func TestAPIServerCreationLockHeldOnce(t *testing.T) {
	workdir := t.TempDir()
	dir := filepath.Join(workdir, "clusters", "c1")
	free := func() bool {
		f, err := os.OpenFile(filepath.Join(workdir, ".up.lock"), os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			return false
		}
		return true
	}
	for i := 0; i < 2; i++ {
		if err := holdCreationLock(dir); err != nil {
			t.Fatal(err)
		}
	}
	if free() {
		t.Fatal("the creation lock is free while two API servers are down")
	}
	releaseCreationLock()
	if free() {
		t.Fatal("the creation lock is free while one API server is down")
	}
	releaseCreationLock()
	if !free() {
		t.Fatal("the creation lock is still held after both API servers are up")
	}
	releaseCreationLock() // one too many: no effect
}

// A cluster the harness did not start (no kwokctl name) is skipped, not failed.
func TestAPIServerStopSkipsForeignCluster(t *testing.T) {
	ok := t.Run("foreign", func(t *testing.T) {
		(&Cluster{Context: "x"}).StopAPIServer(t)
		t.Fatal("not skipped")
	})
	if !ok {
		t.Fatal("StopAPIServer of a foreign cluster failed")
	}
}
