//go:build unix

package scale

import (
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/watch"
	k8stesting "k8s.io/client-go/testing"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

// signalOnWatch sends sig to the test process once the command watches
// resource (its wait has begun): cli.Execute turns it into the end of the
// command's context, as for the real binary.
func signalOnWatch(t *testing.T, tt *clitest.T, resource string, sig syscall.Signal) {
	var once sync.Once
	tt.Fake.PrependWatchReactor(resource, func(k8stesting.Action) (bool, watch.Interface, error) {
		once.Do(func() {
			time.AfterFunc(200*time.Millisecond, func() {
				if err := syscall.Kill(syscall.Getpid(), sig); err != nil {
					t.Error(err)
				}
			})
		})
		return false, nil, nil
	})
}

// TestScaleWorkerSignalled (issue 13 #2): SIGINT or SIGTERM while scale
// worker waits ends it at once with exit 130; both halves stay set (nothing
// is rolled back), the lock is released, and the message says how to follow
// and how to go back.
func TestScaleWorkerSignalled(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			tt := clitest.New("", fixture(2)...) // the status never reaches 3
			signalOnWatch(t, tt, "statefulsets", sig)
			code := run(tt, "worker", "3", "--timeout", "1m")
			checkExit(t, tt, code, cli.ExitInterrupted, "error: interrupted while waiting: statefulset/dev-worker has 3 replicas and TOTAL_WORKERS=3",
				"kubectl piyasa scale status -w -n ns1", "kubectl piyasa scale worker 2 -n ns1")
			total, replicas, _, lock := workers(t, tt)
			if total != "3" || replicas != 3 || lock != "" {
				t.Errorf("TOTAL_WORKERS=%s replicas=%d lock=%q", total, replicas, lock)
			}
			if _, stderr := tt.Output(); strings.Contains(stderr, "rolled back") {
				t.Errorf("rolled back on a signal:\n%s", stderr)
			}
		})
	}
}
