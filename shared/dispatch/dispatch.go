// Package dispatch is the `kubectl piyasa` dispatcher. Krew links one binary
// per plugin, so `kubectl piyasa deploy ...` reaches kubectl-piyasa, which runs
// kubectl-piyasa-deploy found beside its own resolved executable, else on
// PATH, and passes standard streams, signals and the exit code through.
// Flags given before the subcommand (`kubectl piyasa -n x diagnose`) are
// carried over to it.
package dispatch

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"

	"github.com/spf13/pflag"

	"github.com/piyasa/kubectl-piyasa/shared/exit"
	"github.com/piyasa/kubectl-piyasa/shared/suite"
	"github.com/piyasa/kubectl-piyasa/shared/version"
)

// IOStreams are the dispatcher's standard streams.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer
}

// Dispatcher resolves and runs the suite's subcommands.
type Dispatcher struct {
	IOStreams
	// SelfDir is the directory of the dispatcher's resolved executable.
	SelfDir string
	// LookPath finds executables on PATH (exec.LookPath by default).
	LookPath func(string) (string, error)
	// Exec replaces the process with the subcommand (or runs it where the OS
	// cannot replace a process). It returns only on failure, or with an
	// exit.Code error carrying the subcommand's non-zero exit code.
	Exec func(path string, args []string) error
	// Builtins are the dispatcher's own subcommands besides help and version
	// (e.g. completion), keyed by name.
	Builtins map[string]Builtin
}

// Builtin is a subcommand the dispatcher runs itself.
type Builtin struct {
	Short string
	Run   func(d *Dispatcher, args []string) int
	// Hidden builtins (e.g. __complete) are left out of help, names and suggestions.
	Hidden bool
}

// New returns a dispatcher for the running executable.
func New(streams IOStreams) *Dispatcher {
	return &Dispatcher{IOStreams: streams, SelfDir: suite.SelfDir(), LookPath: exec.LookPath, Exec: execSubcommand, Builtins: map[string]Builtin{}}
}

// Find returns the path of a subcommand's binary: beside the dispatcher first, then on PATH.
func (d *Dispatcher) Find(sub string) (string, bool) {
	if p, ok := suite.FindBeside(d.SelfDir, suite.Binary(sub)); ok {
		return p, true
	}
	if p, err := d.LookPath(suite.Binary(sub)); err == nil {
		return p, true
	}
	return "", false
}

// Fail prints err with the suite's one error printer and returns its exit
// code; an error that is not an *exit.Error is a failure (exit 1).
func (d *Dispatcher) Fail(err error) int {
	var e *exit.Error
	if !errors.As(err, &e) {
		e = exit.Failedf("%v", err)
	}
	return exit.Print(d.ErrOut, e)
}

// Split separates the flags before the subcommand, the subcommand and its arguments.
func Split(args []string) (pre []string, sub string, rest []string) {
	var output string
	fs := newFlagSet(&output)
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return pre, "", args[i+1:]
		}
		if !strings.HasPrefix(a, "-") || a == "-" {
			return pre, a, args[i+1:]
		}
		pre = append(pre, a)
		if strings.Contains(a, "=") {
			continue
		}
		var f *pflag.Flag
		if strings.HasPrefix(a, "--") {
			f = fs.Lookup(a[2:])
		} else if len(a) == 2 {
			f = fs.ShorthandLookup(a[1:])
		}
		if f != nil && f.NoOptDefVal == "" && i+1 < len(args) {
			i++
			pre = append(pre, args[i])
		}
	}
	return pre, "", nil
}

// listHint is the hint of the errors about the subcommand's name.
const listHint = "run 'kubectl piyasa --help' for the list"

// Run dispatches args (without the program name) and returns the exit code.
func (d *Dispatcher) Run(args []string) int {
	pre, sub, rest := Split(args)
	switch {
	case sub == "" && hasAny(pre, "--version"):
		fmt.Fprintln(d.Out, version.Get(suite.BinaryPrefix).String())
		return exit.ExitOK
	case sub == "" && (len(pre) == 0 || hasAny(pre, "-h", "--help")):
		d.Help(d.Out)
		return exit.ExitOK
	case sub == "":
		return d.Fail(exit.Usagef("no subcommand given").WithHint(listHint))
	case sub == "help":
		if len(rest) > 0 {
			if b, ok := d.Builtins[rest[0]]; ok {
				return b.Run(d, append(pre, "--help"))
			}
			if rest[0] == "version" {
				return d.Version(append(pre, "--help"))
			}
			return d.run(rest[0], append(pre, "--help"))
		}
		d.Help(d.Out)
		return exit.ExitOK
	case sub == "version":
		return d.Version(append(pre, rest...))
	}
	if b, ok := d.Builtins[sub]; ok {
		return b.Run(d, append(pre, rest...))
	}
	return d.run(sub, append(pre, rest...))
}

func (d *Dispatcher) run(sub string, args []string) int {
	if a, ok := suite.LookupAlias(sub); ok {
		return d.run(a.Of, append([]string{a.Name}, args...))
	}
	if _, known := suite.Lookup(sub); !known {
		e := exit.Usagef("unknown subcommand %q for \"kubectl piyasa\"", sub).WithHint(listHint)
		if s := Suggest(sub, d.Names()); s != "" {
			e.WithHint("did you mean %q? Run 'kubectl piyasa --help' for the list", s)
		}
		return d.Fail(e)
	}
	path, ok := d.Find(sub)
	if !ok {
		return d.Fail(exit.Usagef("%s is not installed: no %s beside %s or on PATH", suite.DisplayName(sub), suite.Binary(sub), d.SelfDir).WithHint(installHint))
	}
	if err := d.Exec(path, args); err != nil {
		return d.Fail(err)
	}
	return exit.ExitOK
}

// installHint is the hint of the errors about a missing subcommand.
const installHint = suite.InstallHint

// Names lists every subcommand name the dispatcher accepts.
func (d *Dispatcher) Names() []string {
	names := []string{"help", "version"}
	for _, s := range suite.Subcommands {
		names = append(names, s.Name)
	}
	for _, a := range suite.Aliases {
		names = append(names, a.Name)
	}
	for n, b := range d.Builtins {
		if !b.Hidden {
			names = append(names, n)
		}
	}
	return names
}

// Help prints the list of subcommands and which are installed.
func (d *Dispatcher) Help(w io.Writer) {
	fmt.Fprintf(w, "kubectl piyasa operates the piyasa chat bot on Kubernetes.\n\nUsage:\n  kubectl piyasa [flags] <subcommand> [args]\n\nSubcommands:\n")
	for _, s := range suite.Subcommands {
		state := ""
		if _, ok := d.Find(s.Name); !ok {
			state = " (not installed)"
		}
		fmt.Fprintf(w, "  %-11s%s%s\n", s.Name, s.Short, state)
	}
	for _, a := range suite.Aliases {
		state := ""
		if _, ok := d.Find(a.Of); !ok {
			state = " (not installed)"
		}
		fmt.Fprintf(w, "  %-11s%s (%s %s)%s\n", a.Name, a.Short, suite.DisplayName(a.Of), a.Name, state)
	}
	fmt.Fprintf(w, "  %-11s%s\n", "version", "Print the versions of the dispatcher and every installed subcommand")
	for _, n := range sortedKeys(d.Builtins) {
		if d.Builtins[n].Hidden {
			continue
		}
		fmt.Fprintf(w, "  %-11s%s\n", n, d.Builtins[n].Short)
	}
	fmt.Fprintf(w, "\nFlags given before the subcommand (-n, --context, --env, ...) are passed to it.\n"+
		"Run 'kubectl piyasa <subcommand> --help' for its flags, 'kubectl options' for kubectl's global flags.\n")
}

func hasAny(args []string, flags ...string) bool {
	for _, a := range args {
		for _, f := range flags {
			if a == f {
				return true
			}
		}
	}
	return false
}
