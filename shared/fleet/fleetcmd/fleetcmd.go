// Package fleetcmd gives the suite's commands that read state --fleet FILE,
// --contexts a,b and --cluster-timeout: with one of them, the command runs in
// every cluster at once, each with its own Global and clients (the region's
// kubeconfig context, environment and namespace), and prints the results per
// cluster in the fleet's order (see package fleet).
package fleetcmd

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/fleet"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// The flags' names.
const (
	FlagFleet    = "fleet"
	FlagContexts = "contexts"
	FlagTimeout  = "cluster-timeout"
)

// Fanout is the fan-out of one command.
type Fanout struct {
	File string
	// Contexts is the value of --contexts: names separated by commas.
	Contexts string
	Timeout  time.Duration

	g      *cli.Global
	newCmd func(*cli.Global) *cobra.Command
	run    func(*cobra.Command, []string) error
	// excluded are the command's flags that a fan-out refuses.
	excluded []string
	// Prepare, when set, is called with each cluster's Global before its
	// command runs (a test sets fake clients there).
	Prepare func(fleet.Target, *cli.Global)
	// Across, when set, compares the clusters after they ran (each job's
	// Global, in the fleet's order) and returns findings about the fleet
	// (the List's findings; nil for none), how to print them under the
	// table of the clusters, and the exit code they make (0 for none):
	// diagnose's checks across regions.
	Across func(targets []fleet.Target, globals []*cli.Global) (findings any, print func(io.Writer), code int)
}

// Add adds --fleet, --contexts and --cluster-timeout to cmd, a command that
// reads state made by newCmd(g), and makes its RunE fan out when one is
// given: every cluster runs newCmd(its own Global) with cmd's flags and
// arguments; -o json|yaml gives one List document. The flags named in
// excluded (e.g. a --watch) cannot be used with a fan-out.
func Add(cmd *cobra.Command, g *cli.Global, newCmd func(*cli.Global) *cobra.Command, excluded ...string) *Fanout {
	f := &Fanout{Timeout: fleet.DefaultClusterTimeout, g: g, newCmd: newCmd, run: cmd.RunE, excluded: excluded}
	fs := cmd.Flags()
	fs.StringVar(&f.File, FlagFleet, "", "Ask every region of this fleet file ("+fleet.DefaultFile+") at once, each with its context, environment and namespace")
	fs.StringVar(&f.Contexts, FlagContexts, "", "Ask these kubeconfig contexts at once (comma-separated), each with -n/--env")
	fs.DurationVar(&f.Timeout, FlagTimeout, f.Timeout, "With --fleet or --contexts: how long to wait for each cluster")
	_ = cmd.MarkFlagFilename(FlagFleet, "yaml", "yml")
	cmd.RunE = f.runE
	return f
}

func (f *Fanout) runE(cmd *cobra.Command, args []string) error {
	fl := cmd.Flags()
	if !fl.Changed(FlagFleet) && !fl.Changed(FlagContexts) {
		if fl.Changed(FlagTimeout) {
			return cli.Usagef("--%s is for --%s or --%s", FlagTimeout, FlagFleet, FlagContexts)
		}
		return f.run(cmd, args)
	}
	targets, err := f.targets(cmd)
	if err != nil {
		return err
	}
	format := output.Table
	if o := fl.Lookup("output"); o != nil {
		format = o.Value.String()
	}
	if format != output.Table && format != output.Wide && format != output.JSON && format != output.YAML {
		return cli.Usagef("-o %s cannot be used with --%s or --%s: use -o table|wide|json|yaml", format, FlagFleet, FlagContexts)
	}
	// The command's own flags are checked once (Complete and Validate, no request).
	ctx := cmd.Context()
	cmd.SetContext(cli.StopBeforeRun(ctx))
	err = f.run(cmd, args)
	cmd.SetContext(ctx)
	if err != nil || cli.StopsBeforeRun(ctx) {
		return err
	}
	structured := format == output.JSON || format == output.YAML
	jobs := make([]*job, len(targets))
	for i, t := range targets {
		if jobs[i], err = f.newJob(cmd, t, structured); err != nil {
			return err
		}
	}
	results := fleet.Run(ctx, targets, f.Timeout, func(cctx context.Context, i int, _ fleet.Target) fleet.Result {
		return jobs[i].run(cctx, args, structured)
	})
	var findings any
	var printFindings func(io.Writer)
	code := 0
	if f.Across != nil {
		globals := make([]*cli.Global, len(jobs))
		for i, j := range jobs {
			globals[i] = j.g
		}
		findings, printFindings, code = f.Across(targets, globals)
	}
	if err := f.print(results, format, findings, printFindings); err != nil {
		return err
	}
	if err := fleet.Error(results); err != nil || code == 0 {
		return err
	}
	return cli.ExitCode(code)
}

// targets checks the flags that select the clusters and reads the fleet file.
func (f *Fanout) targets(cmd *cobra.Command) ([]fleet.Target, error) {
	changed := func(name string) bool { fl := cmd.Flag(name); return fl != nil && fl.Changed }
	switch {
	case changed(FlagFleet) && changed(FlagContexts):
		return nil, cli.Usagef("--%s and --%s exclude each other", FlagFleet, FlagContexts)
	case changed("context"):
		return nil, cli.Usagef("--context cannot be used with --%s or --%s: they name the contexts", FlagFleet, FlagContexts).
			WithHint("leave out --context, or ask one cluster without --%s/--%s", FlagFleet, FlagContexts)
	case changedAny(changed, f.excluded) != "":
		return nil, cli.Usagef("--%s cannot be used with --%s or --%s", changedAny(changed, f.excluded), FlagFleet, FlagContexts)
	case f.Timeout <= 0:
		return nil, cli.Usagef("--%s must be more than 0", FlagTimeout)
	case changed(FlagContexts):
		return fleet.ContextTargets(strings.Split(f.Contexts, ","))
	case changed("namespace") || changed("env"):
		return nil, cli.Usagef("-n/--env cannot be used with --%s: the fleet file names each region's environment and namespace", FlagFleet).
			WithHint("leave out -n/--env, or use --%s with -n/--env", FlagContexts)
	}
	fl, err := fleet.Load(f.File)
	if err != nil {
		return nil, err
	}
	return fl.Targets(), nil
}

// changedAny returns the first of names that was given, else "".
func changedAny(changed func(string) bool, names []string) string {
	for _, n := range names {
		if changed(n) {
			return n
		}
	}
	return ""
}

// job is one cluster's command, its Global and its buffered streams.
type job struct {
	g           *cli.Global
	cmd         *cobra.Command
	out, errOut *bytes.Buffer
}

// newJob makes the command of one cluster: a new Global on buffers, with the
// kubectl flags of f.g and the target's context, environment and namespace,
// and cmd's own flags.
func (f *Fanout) newJob(cmd *cobra.Command, t fleet.Target, structured bool) (*job, error) {
	j := &job{out: &bytes.Buffer{}, errOut: &bytes.Buffer{}}
	var out io.Writer = j.out
	if file, ok := f.g.Out.(*os.File); ok && !structured {
		// Tables are laid out (and coloured) for the terminal they end up on.
		out = termBuffer{j.out, file.Fd()}
	}
	j.g = cli.NewGlobal(genericiooptions.IOStreams{In: strings.NewReader(""), Out: out, ErrOut: j.errOut})
	j.cmd = f.newCmd(j.g)
	j.g.Inherit(f.g, t.Context, t.Environment, t.Namespace)
	if f.Prepare != nil {
		f.Prepare(t, j.g)
	}
	if err := copyFlags(cmd, j.cmd, structured); err != nil {
		return nil, err
	}
	return j, nil
}

// termBuffer is a buffer that table.DetectTerminal takes for the terminal
// with the file descriptor fd.
type termBuffer struct {
	buf *bytes.Buffer
	fd  uintptr
}

func (b termBuffer) Write(p []byte) (int, error) { return b.buf.Write(p) }

// Fd returns the descriptor of the terminal the buffer's content goes to.
func (b termBuffer) Fd() uintptr { return b.fd }

// skipFlags are the flags a cluster's command does not take from the fan-out's.
var skipFlags = map[string]bool{FlagFleet: true, FlagContexts: true, FlagTimeout: true, "help": true, "version": true}

// copyFlags sets the flags given to from (its own, not the kubectl flags) on
// to; with structured output, each cluster prints JSON.
func copyFlags(from, to *cobra.Command, structured bool) error {
	var err error
	from.LocalNonPersistentFlags().VisitAll(func(fl *pflag.Flag) {
		if !fl.Changed || skipFlags[fl.Name] || err != nil {
			return
		}
		dst := to.Flags().Lookup(fl.Name)
		if dst == nil {
			err = fmt.Errorf("the command of a cluster has no flag --%s", fl.Name)
			return
		}
		if sv, ok := fl.Value.(pflag.SliceValue); ok {
			err = dst.Value.(pflag.SliceValue).Replace(sv.GetSlice())
			dst.Changed = true
			return
		}
		err = to.Flags().Set(fl.Name, fl.Value.String())
	})
	if err == nil && structured {
		err = to.Flags().Set("output", output.JSON)
	}
	return err
}

// run runs the cluster's command and gathers its result.
func (j *job) run(ctx context.Context, args []string, structured bool) fleet.Result {
	j.cmd.SetContext(ctx)
	err := j.cmd.RunE(j.cmd, args)
	r := fleet.Result{Namespace: j.g.Namespace, Out: j.out.Bytes(), ErrOut: j.errOut.Bytes()}
	if e := j.g.Outcome(err); e != nil {
		r.Code, r.Error, r.Hint = e.Code, e.Msg, e.Hint
	}
	if structured && json.Valid(r.Out) {
		r.Document, r.Out = r.Out, nil
	}
	return r
}

// print prints the results: sections and the summary table, or the List document.
func (f *Fanout) print(results []fleet.Result, format string, findings any, printFindings func(io.Writer)) error {
	if format == output.JSON || format == output.YAML {
		list := fleet.NewList(results)
		list.Findings = findings
		if err := output.PrintDocument(f.g.Out, format, fleet.ListKind, list); err != nil {
			return err
		}
		for _, r := range results {
			if len(r.ErrOut) > 0 || len(r.Out) > 0 {
				fmt.Fprintln(f.g.ErrOut, fleet.Heading(r))
				_, _ = f.g.ErrOut.Write(r.Out)
				_, _ = f.g.ErrOut.Write(r.ErrOut)
			}
		}
		return nil
	}
	fleet.PrintSections(f.g.Out, f.g.ErrOut, results)
	fmt.Fprintln(f.g.Out)
	if err := fleet.PrintSummary(f.g.Out, results); err != nil {
		return err
	}
	if printFindings != nil {
		printFindings(f.g.Out)
	}
	return nil
}
