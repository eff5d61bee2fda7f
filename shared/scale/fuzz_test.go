package scale

import (
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

// FuzzScaleCommandLine: no command line of kubectl-piyasa-scale panics, hangs or
// exits with a code other than 0-3 (flags, arguments, Complete and Validate
// on fake clients; nothing runs). Seeds: every command, --help and example of
// the tree, and these; the corpus found is kept in testdata/fuzz.
func FuzzScaleCommandLine(f *testing.F) {
	clitest.FuzzCommandLine(f, NewCmd,
		[]string{"worker", "3", "--env", "dev", "-n", "ns1", "--dry-run=server"},
		[]string{"api", "-1", "--wait=false", "--timeout", "1h"},
		[]string{"hpa", "api", "--min", "2", "--max", "1", "--cpu", "101"},
		[]string{"status", "-w", "-o", "wide", "--match-server-version"},
	)
}
