package migrate

import (
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

// FuzzMigrateCommandLine: no command line of kubectl-piyasa-migrate panics, hangs or
// exits with a code other than 0-3 (flags, arguments, Complete and Validate
// on fake clients; nothing runs). Seeds: every command, --help and example of
// the tree, and these; the corpus found is kept in testdata/fuzz.
func FuzzMigrateCommandLine(f *testing.F) {
	clitest.FuzzCommandLine(f, NewCmd,
		[]string{"up", "--to", "head", "--backup-first", "--yes", "--timeout", "0"},
		[]string{"down", "-1", "--dry-run=server"},
		[]string{"unlock", "--force"},
		[]string{"history", "-o", "yaml"},
		[]string{"jobs", "--delete", "--keep", "-3"},
	)
}
