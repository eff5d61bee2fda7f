// Package dispatch is the `kubectl piyasa` dispatcher. Krew links one binary
// per plugin, so `kubectl piyasa deploy ...` reaches kubectl-piyasa, which runs
// kubectl-piyasa-deploy found beside its own resolved executable, else on
// PATH, and passes standard streams, signals and the exit code through.
// Flags given before the subcommand (`kubectl piyasa -n x diagnose`) are
// carried over to it.
package dispatch

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/suite"
	"github.com/piyasa/kubectl-piyasa/shared/version"
)

// Dispatcher resolves and runs the suite's subcommands.
type Dispatcher struct {
	genericiooptions.IOStreams
	// SelfDir is the directory of the dispatcher's resolved executable.
	SelfDir string
	// LookPath finds executables on PATH (exec.LookPath by default).
	LookPath func(string) (string, error)
	// Exec replaces the process with the subcommand (or runs it and returns
	// its exit code where the OS cannot replace a process).
	Exec func(path string, args []string) int
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
func New(streams genericiooptions.IOStreams) *Dispatcher {
	d := &Dispatcher{IOStreams: streams, LookPath: exec.LookPath, Exec: execSubcommand, Builtins: map[string]Builtin{}}
	if self, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(self); err == nil {
			self = resolved
		}
		d.SelfDir = filepath.Dir(self)
	}
	return d
}

// Find returns the path of a subcommand's binary: beside the dispatcher first, then on PATH.
func (d *Dispatcher) Find(sub string) (string, bool) {
	name := suite.Binary(sub)
	if runtime.GOOS == "windows" {
		name += ".exe"
	}
	if d.SelfDir != "" {
		p := filepath.Join(d.SelfDir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && (runtime.GOOS == "windows" || st.Mode()&0o111 != 0) {
			return p, true
		}
	}
	if p, err := d.LookPath(suite.Binary(sub)); err == nil {
		return p, true
	}
	return "", false
}

// valueFlags tells which of the shared flags take a value, from the same flag
// definitions the subcommands use.
func valueFlags(pf *output.Flags) *pflag.FlagSet {
	fs, _ := flagSet(pf)
	return fs
}

// flagSet returns the shared flags bound to a fresh cli.Global.
func flagSet(pf *output.Flags) (*pflag.FlagSet, *cli.Global) {
	fs := pflag.NewFlagSet("piyasa", pflag.ContinueOnError)
	g := cli.NewGlobal(genericiooptions.IOStreams{})
	g.AddFlags(fs)
	pf.AddFlagSet(fs)
	return fs, g
}

// Split separates the flags before the subcommand, the subcommand and its arguments.
func Split(args []string) (pre []string, sub string, rest []string) {
	fs := valueFlags(output.NewFlags())
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

// Run dispatches args (without the program name) and returns the exit code.
func (d *Dispatcher) Run(args []string) int {
	cli.QuietKlog()
	pre, sub, rest := Split(args)
	switch {
	case sub == "" && hasAny(pre, "--version"):
		fmt.Fprintln(d.Out, version.Get(suite.BinaryPrefix).String())
		return cli.ExitOK
	case sub == "" && (len(pre) == 0 || hasAny(pre, "-h", "--help")):
		d.Help(d.Out)
		return cli.ExitOK
	case sub == "":
		fmt.Fprintf(d.ErrOut, "error: no subcommand given\nhint: run 'kubectl piyasa --help' for the list\n")
		return cli.ExitUsage
	case sub == "help":
		if len(rest) > 0 {
			if b, ok := d.Builtins[rest[0]]; ok {
				return b.Run(d, append(pre, "--help"))
			}
			return d.run(rest[0], append(pre, "--help"))
		}
		d.Help(d.Out)
		return cli.ExitOK
	case sub == "version":
		return d.Version(append(pre, rest...))
	}
	if b, ok := d.Builtins[sub]; ok {
		return b.Run(d, append(pre, rest...))
	}
	return d.run(sub, append(pre, rest...))
}

func (d *Dispatcher) run(sub string, args []string) int {
	if _, known := suite.Lookup(sub); !known {
		fmt.Fprintf(d.ErrOut, "error: unknown subcommand %q for \"kubectl piyasa\"\n", sub)
		if s := Suggest(sub, d.Names()); s != "" {
			fmt.Fprintf(d.ErrOut, "hint: did you mean %q? Run 'kubectl piyasa --help' for the list\n", s)
		} else {
			fmt.Fprintf(d.ErrOut, "hint: run 'kubectl piyasa --help' for the list\n")
		}
		return cli.ExitUsage
	}
	path, ok := d.Find(sub)
	if !ok {
		fmt.Fprintf(d.ErrOut, "error: %s is not installed: no %s beside %s or on PATH\n", suite.DisplayName(sub), suite.Binary(sub), d.SelfDir)
		fmt.Fprintf(d.ErrOut, "hint: install the whole suite (kubectl krew install piyasa/piyasa, or make install from a checkout)\n")
		return cli.ExitUsage
	}
	return d.Exec(path, args)
}

// Names lists every subcommand name the dispatcher accepts.
func (d *Dispatcher) Names() []string {
	names := []string{"help", "version"}
	for _, s := range suite.Subcommands {
		names = append(names, s.Name)
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

// Version prints the versions of the dispatcher, every installed subcommand
// and, unless --client is given, the API server that the kubectl flags select.
func (d *Dispatcher) Version(args []string) int {
	pf := output.NewFlags()
	fs, g := flagSet(pf)
	clientOnly := fs.Bool("client", false, "")
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(d.ErrOut, "error: %v\nhint: usage: kubectl piyasa version [--client] [-o table|wide|json|yaml]\n", err)
		return cli.ExitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(d.ErrOut, "error: version takes no arguments\nhint: usage: kubectl piyasa version [--client] [-o table|wide|json|yaml]\n")
		return cli.ExitUsage
	}
	if err := pf.Validate(); err != nil {
		fmt.Fprintf(d.ErrOut, "error: %v\n", err)
		return cli.ExitUsage
	}
	type part struct {
		version.Info `json:",inline"`
		Installed    bool   `json:"installed"`
		Path         string `json:"path,omitempty"`
		Error        string `json:"error,omitempty"`
	}
	self := version.Get(suite.BinaryPrefix)
	parts := []part{{Info: self, Installed: true, Path: filepath.Join(d.SelfDir, suite.BinaryPrefix)}}
	for _, s := range suite.Subcommands {
		p := part{Info: version.Info{Binary: suite.Binary(s.Name)}}
		if path, ok := d.Find(s.Name); ok {
			p.Installed, p.Path = true, path
			info, err := subVersion(path)
			if err != nil {
				p.Error = err.Error()
			} else {
				p.Info = info
			}
		}
		parts = append(parts, p)
	}
	var server *ServerInfo
	var serverErr *cli.Error
	if !*clientOnly {
		server, serverErr = serverVersion(g)
	}
	if pf.Structured() {
		doc := map[string]any{"items": parts}
		if server != nil {
			doc["server"] = server
		}
		if err := pf.PrintDocument(d.Out, "VersionList", doc); err != nil {
			fmt.Fprintf(d.ErrOut, "error: %v\n", err)
			return cli.ExitFailed
		}
		return d.serverResult(serverErr)
	}
	t := output.NewTable(d.Out, "BINARY", "VERSION", "COMMIT", "BUILT")
	if pf.IsWide() {
		t = output.NewTable(d.Out, "BINARY", "VERSION", "COMMIT", "BUILT", "PLATFORM", "PATH")
	}
	for _, p := range parts {
		v, c, b := p.Version, p.Commit, p.Date
		switch {
		case !p.Installed:
			v, c, b = "not installed", "", ""
		case p.Error != "":
			v, c, b = "error: "+p.Error, "", ""
		}
		row := []string{p.Binary, v, c, b}
		if pf.IsWide() {
			row = append(row, p.Platform, p.Path)
		}
		t.Append(row...)
	}
	if err := t.Render(); err != nil {
		return cli.ExitFailed
	}
	if server != nil {
		fmt.Fprintf(d.Out, "\nServer: %s (%s)\n", server.GitVersion, server.Host)
	}
	return d.serverResult(serverErr)
}

// serverResult prints a server error after the client versions, as kubectl version does.
func (d *Dispatcher) serverResult(e *cli.Error) int {
	if e == nil {
		return cli.ExitOK
	}
	fmt.Fprintf(d.ErrOut, "error: %s\n", e.Msg)
	if e.Hint != "" {
		fmt.Fprintf(d.ErrOut, "hint: %s\n", e.Hint)
	}
	return e.Code
}

// ServerInfo is the API server's version in `version -o json`.
type ServerInfo struct {
	Host       string `json:"host"`
	GitVersion string `json:"gitVersion"`
	Platform   string `json:"platform"`
}

// serverVersion asks the API server selected by the kubectl flags for its version.
func serverVersion(g *cli.Global) (*ServerInfo, *cli.Error) {
	dc, err := g.Discovery()
	if err != nil {
		return nil, cli.Classify(err, g.Server())
	}
	v, err := dc.ServerVersion()
	if err != nil {
		return nil, cli.Classify(err, g.Server())
	}
	return &ServerInfo{Host: g.Server(), GitVersion: v.GitVersion, Platform: v.Platform}, nil
}

// subVersion asks an installed binary for its version document.
func subVersion(path string) (version.Info, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "version", "-o", "json").Output()
	if err != nil {
		return version.Info{}, fmt.Errorf("%s version: %v", filepath.Base(path), err)
	}
	var info version.Info
	if err := json.Unmarshal(out, &info); err != nil {
		return version.Info{}, fmt.Errorf("%s version: unreadable output", filepath.Base(path))
	}
	return info, nil
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
