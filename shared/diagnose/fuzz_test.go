package diagnose

import (
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

// FuzzDiagnoseCommandLine: no command line of kubectl-piyasa-diagnose panics, hangs or
// exits with a code other than 0-3 (flags, arguments, Complete and Validate
// on fake clients; nothing runs). Seeds: every command, --help and example of
// the tree, and these; the corpus found is kept in testdata/fuzz.
func FuzzDiagnoseCommandLine(f *testing.F) {
	clitest.FuzzCommandLine(f, NewCmd,
		[]string{"--env", "prod", "-o", "junit", "--only", "PIY401,pods", "--skip", "PIY999", "--fail-on", "warning"},
		[]string{"bundle", "-f", "out.tar.gz", "--tail", "0", "--overwrite"},
		[]string{"explain", "PIY1", "database", "--", "-x"},
		[]string{"--probe", "--chunk-size", "-5", "--min-severity", "info", "--env-file", "nope.env"},
	)
}
