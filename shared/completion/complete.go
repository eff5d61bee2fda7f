// Package completion completes `kubectl piyasa ...` command lines and prints
// shell completion scripts for the kubectl-piyasa dispatcher.
//
// Two callers speak the same protocol: kubectl (1.26+) runs the executable
// kubectl_complete-piyasa with the words typed after `kubectl piyasa`, the
// last one being the word under completion ("" for a new word); cobra's
// completion scripts run `kubectl-piyasa __complete <words>`. Both expect one
// completion per line ("value\tdescription") and a last line ":<directive>"
// (cobra.ShellCompDirective).
//
// The dispatcher completes what it owns: subcommand names, the completion
// shells, --env values. Everything else (the words after a subcommand, flag
// names and values given before it, such as -n <namespace>) is delegated to
// the subcommand binary's own cobra `__complete`, so completion always
// matches the flags and arguments the binary really accepts.
package completion

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/dispatch"
	"github.com/piyasa/kubectl-piyasa/shared/suite"
)

// Names of the hidden dispatcher builtins that answer completion requests.
const (
	CompleteCmd       = cobra.ShellCompRequestCmd       // "__complete"
	CompleteNoDescCmd = cobra.ShellCompNoDescRequestCmd // "__completeNoDesc"
)

// Shells lists the shells `kubectl piyasa completion` writes scripts for.
var Shells = []string{"bash", "zsh", "fish", "powershell"}

// Timeout bounds a delegated completion (namespace completion asks the cluster).
var Timeout = 10 * time.Second

// sentinel marks the word under completion when the command line is split.
const sentinel = "\x00complete\x00"

// Completer answers completion requests for a dispatcher.
type Completer struct {
	D *dispatch.Dispatcher
	// Descriptions adds "\t<description>" to each completion.
	Descriptions bool
	// Env is the environment of delegated completions (os.Environ() if nil).
	Env []string
}

// Complete returns the completions of the last word of args (the words
// after `kubectl piyasa`) and cobra's directive for the shell.
func (c *Completer) Complete(args []string) ([]string, cobra.ShellCompDirective) {
	if len(args) == 0 {
		args = []string{""}
	}
	words, toComplete := args[:len(args)-1], args[len(args)-1]
	pre, sub, rest := dispatch.Split(append(append([]string{}, words...), sentinel))
	noFile := cobra.ShellCompDirectiveNoFileComp
	switch {
	case sub == sentinel && strings.HasPrefix(toComplete, "-"):
		// A flag name before the subcommand: the subcommands share these flags.
		return c.delegateAny(append(pre, toComplete))
	case sub == sentinel:
		return c.filter(c.subcommands(), toComplete), noFile
	case sub == "" && len(pre) >= 2 && pre[len(pre)-1] == sentinel:
		// The value of a flag given before the subcommand (-n <TAB>, --env <TAB>).
		flag := pre[len(pre)-2]
		if flag == "--env" {
			if comps, dir := c.delegateAny(append(pre[:len(pre)-1], toComplete)); len(comps) > 0 {
				return comps, dir
			}
			return c.filter(plain(app.EnvironmentNames()), toComplete), noFile
		}
		return c.delegateAny(append(pre[:len(pre)-1], toComplete))
	case sub == "":
		// After "--": nothing to complete.
		return nil, noFile
	}
	rest = rest[:len(rest)-1] // drop the sentinel
	switch sub {
	case "help":
		if len(rest) == 0 {
			return c.filter(c.suiteSubcommands(), toComplete), noFile
		}
		return nil, noFile
	case "version":
		if last(pre, rest) == "-o" || last(pre, rest) == "--output" {
			return c.filter(plain(dispatch.Formats), toComplete), noFile
		}
		return nil, noFile
	case "completion":
		if len(rest) == 0 && !strings.HasPrefix(toComplete, "-") {
			return c.filter(plain(Shells), toComplete), noFile
		}
		return nil, noFile
	}
	if a, ok := suite.LookupAlias(sub); ok {
		// As the dispatcher runs it: the alias's name first, then the flags.
		sub, pre = a.Of, append([]string{a.Name}, pre...)
	}
	if _, ok := suite.Lookup(sub); !ok {
		return nil, noFile
	}
	path, ok := c.D.Find(sub)
	if !ok {
		return nil, noFile
	}
	return c.delegate(path, append(append(pre, rest...), toComplete))
}

// Write prints completions in the protocol kubectl and cobra's scripts read.
func Write(w io.Writer, comps []string, dir cobra.ShellCompDirective) {
	for _, c := range comps {
		fmt.Fprintln(w, c)
	}
	fmt.Fprintf(w, ":%d\n", dir)
}

// Run answers one completion request (args after __complete) on d's output and returns the exit code.
func Run(d *dispatch.Dispatcher, args []string, descriptions bool) int {
	c := &Completer{D: d, Descriptions: descriptions}
	comps, dir := c.Complete(args)
	Write(d.Out, comps, dir)
	return 0
}

type candidate struct{ name, desc string }

func plain(names []string) []candidate {
	out := make([]candidate, 0, len(names))
	for _, n := range names {
		out = append(out, candidate{name: n})
	}
	return out
}

func last(a, b []string) string {
	switch {
	case len(b) > 0:
		return b[len(b)-1]
	case len(a) > 0:
		return a[len(a)-1]
	}
	return ""
}

// suiteSubcommands are the suite's subcommands, noting those not installed.
func (c *Completer) suiteSubcommands() []candidate {
	var out []candidate
	for _, s := range suite.Subcommands {
		desc := s.Short
		if _, ok := c.D.Find(s.Name); !ok {
			desc += " (not installed)"
		}
		out = append(out, candidate{s.Name, desc})
	}
	for _, a := range suite.Aliases {
		desc := a.Short
		if _, ok := c.D.Find(a.Of); !ok {
			desc += " (not installed)"
		}
		out = append(out, candidate{a.Name, desc})
	}
	return out
}

// subcommands are all words accepted after `kubectl piyasa`.
func (c *Completer) subcommands() []candidate {
	out := c.suiteSubcommands()
	out = append(out, candidate{"version", "Print the versions of the dispatcher and every installed subcommand"})
	names := make([]string, 0, len(c.D.Builtins))
	for n, b := range c.D.Builtins {
		if !b.Hidden {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		out = append(out, candidate{n, c.D.Builtins[n].Short})
	}
	out = append(out, candidate{"help", "Help about a subcommand"})
	return out
}

func (c *Completer) filter(cands []candidate, prefix string) []string {
	var out []string
	for _, cand := range cands {
		if !strings.HasPrefix(cand.name, prefix) {
			continue
		}
		if c.Descriptions && cand.desc != "" {
			out = append(out, cand.name+"\t"+cand.desc)
		} else {
			out = append(out, cand.name)
		}
	}
	return out
}

// delegateAny completes flags given before the subcommand through the first
// installed subcommand: every subcommand root has the same shared flags.
func (c *Completer) delegateAny(args []string) ([]string, cobra.ShellCompDirective) {
	for _, s := range suite.Subcommands {
		if path, ok := c.D.Find(s.Name); ok {
			return c.delegate(path, args)
		}
	}
	return nil, cobra.ShellCompDirectiveNoFileComp
}

// delegate runs `<binary> __complete <args>` and returns its completions.
// A binary that fails or answers nothing usable gives no completions.
func (c *Completer) delegate(path string, args []string) ([]string, cobra.ShellCompDirective) {
	req := CompleteNoDescCmd
	if c.Descriptions {
		req = CompleteCmd
	}
	ctx, cancel := context.WithTimeout(context.Background(), Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, append([]string{req}, args...)...)
	cmd.Env = c.Env
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = io.Discard
	if err := cmd.Run(); err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return Parse(out.String())
}

// Parse reads the output of a __complete request: completions, then ":<directive>".
func Parse(s string) ([]string, cobra.ShellCompDirective) {
	var comps []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			comps = append(comps, l)
		}
	}
	dir := cobra.ShellCompDirectiveDefault
	if n := len(comps); n > 0 && len(comps[n-1]) > 1 && comps[n-1][0] == ':' {
		if v, err := strconv.Atoi(comps[n-1][1:]); err == nil {
			dir = cobra.ShellCompDirective(v)
			comps = comps[:n-1]
		}
	}
	return comps, dir
}
