package dispatch_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/completion"
	"github.com/piyasa/kubectl-piyasa/shared/dispatch"
	"github.com/piyasa/kubectl-piyasa/shared/exit"
	"github.com/piyasa/kubectl-piyasa/shared/suite"
)

// FuzzDispatchCommandLine: no command line of the dispatcher (kubectl
// piyasa ..., with its completion builtins) panics or exits with a code
// other than 0-3. deploy and scale are "installed" at paths that do not
// exist (running them fails at once), the others are not; a subcommand the
// dispatcher would replace itself with is only recorded.
func FuzzDispatchCommandLine(f *testing.F) {
	home := f.TempDir()
	f.Setenv("HOME", home)
	f.Setenv("KUBECONFIG", filepath.Join(home, "no-such-kubeconfig"))
	f.Chdir(f.TempDir())
	self := f.TempDir() // nothing beside the dispatcher
	missing := filepath.Join(home, "not-there")
	for _, s := range [][]string{
		{}, {"--help"}, {"--version"}, {"help"}, {"help", "deploy"}, {"help", "completion"}, {"help", "version"},
		{"version"}, {"version", "-o", "json"}, {"version", "-o", "yaml", "--client"}, {"version", "-o", "xml"},
		{"-n", "x", "--context=a", "deploy", "status"}, {"--env", "prod", "scale", "api", "3"}, {"deplyo"}, {"migrate", "up"},
		{"completion", "bash"}, {"completion", "zsh", "extra"}, {"completion", "tcsh"}, {"completion", "--help"},
		{completion.CompleteCmd, "deploy", "st"}, {completion.CompleteNoDescCmd, "-n", ""}, {completion.CompleteCmd, ""},
		{"--", "deploy"}, {"-", "x"}, {"--kubeconfig"}, {"-n"},
	} {
		f.Add(clitest.Args(s...))
	}
	f.Fuzz(func(t *testing.T, line string) {
		var args []string
		if line != "" {
			args = strings.Split(line, clitest.ArgSep)
		}
		var out, errOut bytes.Buffer
		d := &dispatch.Dispatcher{
			IOStreams: dispatch.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut},
			SelfDir:   self,
			LookPath: func(name string) (string, error) {
				if name == suite.Binary("deploy") || name == suite.Binary("scale") {
					return filepath.Join(missing, name), nil
				}
				return "", os.ErrNotExist
			},
			Exec:     func(string, []string) error { return nil },
			Builtins: map[string]dispatch.Builtin{},
		}
		completion.Register(d)
		if code := d.Run(args); code < exit.ExitOK || code > exit.ExitCluster {
			t.Fatalf("%q: exit %d, want 0-3\nstdout:\n%s\nstderr:\n%s", args, code, out.String(), errOut.String())
		}
	})
}
