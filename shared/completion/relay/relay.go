// Package relay is the kubectl_complete-piyasa executable's logic: kubectl
// (1.26+) runs it with the words typed after `kubectl piyasa`, the last one
// being the word under completion, and reads completions from its stdout. It
// relays the request to the dispatcher (`kubectl-piyasa __complete <words>`),
// which answers for the whole suite, so this executable stays small and
// completion has one implementation.
//
// kubectl runs kubectl_complete-piyasa-<sub> instead when the subcommand's
// binary kubectl-piyasa-<sub> is itself on PATH (kubectl then knows
// `piyasa <sub>` as a plugin); installed under that name (a link), the relay
// puts <sub> back in front of the words.
package relay

import (
	"io"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/piyasa/kubectl-piyasa/shared/suite"
)

// Name is the executable's name, kubectl_complete-<plugin>.
const Name = "kubectl_complete-" + suite.Plugin

// Dispatcher is the executable that answers the requests.
const Dispatcher = suite.BinaryPrefix

// noFileComp is cobra's ShellCompDirectiveNoFileComp, the answer when the
// dispatcher cannot be run: no completions, and no file names either.
const noFileComp = ":4\n"

// Args turns the relay's program name and arguments into the dispatcher's.
func Args(argv0 string, args []string) []string {
	name := strings.TrimSuffix(filepath.Base(argv0), ".exe")
	out := []string{"__complete"}
	if sub, ok := strings.CutPrefix(name, Name+"-"); ok && sub != "" {
		// kubectl_complete-piyasa-deploy: kubectl completes `kubectl piyasa deploy ...`.
		out = append(out, strings.ReplaceAll(sub, "_", "-"))
	}
	return append(out, args...)
}

// Find locates the dispatcher beside the relay's resolved executable, else on PATH.
func Find() (string, bool) {
	if p, ok := suite.FindBeside(suite.SelfDir(), Dispatcher); ok {
		return p, true
	}
	if p, err := exec.LookPath(Dispatcher); err == nil {
		return p, true
	}
	return "", false
}

// Run answers one completion request and returns the exit code.
func Run(argv0 string, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	path, ok := Find()
	if !ok {
		_, _ = io.WriteString(stdout, noFileComp)
		return 0
	}
	cmd := exec.Command(path, Args(argv0, args)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		_, _ = io.WriteString(stdout, noFileComp)
	}
	return 0
}
