package deploy

import (
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

// FuzzDeployCommandLine: no command line of kubectl-piyasa-deploy panics, hangs or
// exits with a code other than 0-3 (flags, arguments, Complete and Validate
// on fake clients; nothing runs). Seeds: every command, --help and example of
// the tree, and these; the corpus found is kept in testdata/fuzz.
func FuzzDeployCommandLine(f *testing.F) {
	clitest.FuzzCommandLine(f, NewCmd,
		[]string{"--env", "prod", "--env-file", ".env", "--dry-run=server", "-o", "json"},
		[]string{"init-env", "-f", "x.env"},
		[]string{"config", "set", "LOG_LEVEL=INFO", "--env", "dev", "-n", "ns1", "--dry-run=client"},
		[]string{"rollback", "--to-revision", "-1", "--timeout", "0s"},
		[]string{"-n", "", "--env", "staging", "status", "-o", "yaml", "--kubeconfig", "k", "--context", "c"},
		[]string{"update", "--image", "Registry/UPPER:1", "-v", "9", "--server", "https://127.0.0.1:6443"},
	)
}
