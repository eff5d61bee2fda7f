package completion

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/dispatch"
	"github.com/piyasa/kubectl-piyasa/shared/exit"
	"github.com/piyasa/kubectl-piyasa/shared/suite"
)

// Register adds `completion` and the hidden __complete builtins to d.
func Register(d *dispatch.Dispatcher) {
	d.Builtins["completion"] = dispatch.Builtin{
		Short: "Print a shell completion script (bash, zsh, fish, powershell)",
		Run:   runCompletion,
	}
	d.Builtins[CompleteCmd] = dispatch.Builtin{Hidden: true, Run: func(d *dispatch.Dispatcher, args []string) int {
		return Run(d, args, true)
	}}
	d.Builtins[CompleteNoDescCmd] = dispatch.Builtin{Hidden: true, Run: func(d *dispatch.Dispatcher, args []string) int {
		return Run(d, args, false)
	}}
}

// Usage is the help of `kubectl piyasa completion`.
const Usage = `Print a shell completion script for kubectl-piyasa.

Usage:
  kubectl piyasa completion bash|zsh|fish|powershell

Completion of 'kubectl piyasa ...' (subcommands, components, --env, -n):
  1. enable kubectl's own completion, e.g. in ~/.bashrc:
       source <(kubectl completion bash)
  2. put the executable kubectl_complete-piyasa on PATH; kubectl 1.26+ runs it
     for the words after 'kubectl piyasa'. 'make install' and the release
     archives ship it. With Krew, link it once (Linux, macOS):
       ln -sf kubectl-piyasa "${KREW_ROOT:-$HOME/.krew}/bin/kubectl_complete-piyasa"
     When the subcommand binaries are on PATH too (make install), kubectl asks
     kubectl_complete-piyasa-<subcommand> for the words after
     'kubectl piyasa <subcommand>': link those names to kubectl_complete-piyasa.

Completion of the kubectl-piyasa command typed directly:
  bash:        source <(kubectl piyasa completion bash)
  zsh:         kubectl piyasa completion zsh > "${fpath[1]}/_kubectl-piyasa"
  fish:        kubectl piyasa completion fish > ~/.config/fish/completions/kubectl-piyasa.fish
  powershell:  kubectl piyasa completion powershell | Out-String | Invoke-Expression
`

func runCompletion(d *dispatch.Dispatcher, args []string) int {
	for _, a := range args {
		if a == "-h" || a == "--help" {
			fmt.Fprint(d.Out, Usage)
			return exit.ExitOK
		}
	}
	// Flags given before `completion` (kubectl piyasa -n x completion bash) are accepted and ignored.
	_, shell, rest := dispatch.Split(args)
	if shell == "" || len(rest) > 0 {
		return d.Fail(exit.Usagef("completion needs exactly one shell: %s", strings.Join(Shells, "|")).WithHint("see 'kubectl piyasa completion --help'"))
	}
	if err := Script(d.Out, shell); err != nil {
		e := exit.Usagef("%v", err).WithHint("use one of %s", strings.Join(Shells, ", "))
		if s := dispatch.Suggest(shell, Shells); s != "" {
			e.WithHint("did you mean %q?", s)
		}
		return d.Fail(e)
	}
	return exit.ExitOK
}

// Script writes the completion script of the kubectl-piyasa command for
// shell. The scripts are cobra's; they ask `kubectl-piyasa __complete`.
func Script(w io.Writer, shell string) error {
	root := &cobra.Command{Use: suite.BinaryPrefix}
	switch shell {
	case "bash":
		return root.GenBashCompletionV2(w, true)
	case "zsh":
		return root.GenZshCompletion(w)
	case "fish":
		return root.GenFishCompletion(w, true)
	case "powershell":
		return root.GenPowerShellCompletionWithDesc(w)
	}
	return fmt.Errorf("unsupported shell %q", shell)
}
