//go:build unix

package cli

import (
	"errors"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// TestSignalsEndTheContext: SIGINT (Ctrl-C) and SIGTERM (timeout, a CI
// runner, kubectl's parent) end the context Execute gives the command; a
// command that returns its own exit-130 error keeps its message (what was
// applied, how to continue), any other is reported as "interrupted", exit 130.
func TestSignalsEndTheContext(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		for _, own := range []bool{false, true} {
			root, g, _, errOut := newTestRoot(hermetic)
			root.AddCommand(&cobra.Command{Use: "wait", Args: cobra.NoArgs, RunE: func(c *cobra.Command, _ []string) error {
				time.AfterFunc(100*time.Millisecond, func() { _ = syscall.Kill(syscall.Getpid(), sig) })
				select {
				case <-c.Context().Done():
				case <-time.After(time.Minute):
					return errors.New("the signal did not end the context")
				}
				if own {
					return Interruptedf("interrupted while waiting: 3 of 5 applied").WithHint("run it again")
				}
				return c.Context().Err()
			}})
			code := Execute(root, g, []string{"wait"})
			want := "error: interrupted\n"
			if own {
				want = "error: interrupted while waiting: 3 of 5 applied\nhint: run it again\n"
			}
			if code != ExitInterrupted || errOut.String() != want {
				t.Errorf("%s (own message %v): exit %d, stderr %q", sig, own, code, errOut.String())
			}
			if strings.Count(errOut.String(), "error:") != 1 {
				t.Errorf("%s: more than one error line: %q", sig, errOut.String())
			}
		}
	}
}
