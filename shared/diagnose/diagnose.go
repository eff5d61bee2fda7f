package diagnose

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/envfile"
	"github.com/piyasa/kubectl-piyasa/shared/fleet/fleetcmd"
	"github.com/piyasa/kubectl-piyasa/shared/logs"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/top"
)

// Options are the flags and state of `kubectl piyasa diagnose`.
type Options struct {
	*cli.Global
	Print *output.Flags

	Only, Skip  string
	MinSeverity string
	FailOn      string
	Probe       bool
	EnvFile     string
	ChunkSize   int64

	cfg Config
	// last is the report of the last Run (nil before): a fleet's checks
	// across regions read its Region.
	last *Report
}

// NewOptions returns the defaults.
func NewOptions(g *cli.Global) *Options {
	return &Options{Global: g, Print: output.NewFlags(JUnit), MinSeverity: string(SeverityInfo), FailOn: string(SeverityError), ChunkSize: DefaultChunkSize}
}

const diagnoseLong = `Check the app's namespace for the faults of the guide's Troubleshooting section and the
app's known misconfigurations, read-only. Each finding has a stable code (see 'kubectl piyasa
diagnose explain'), a severity, the object, the evidence and the command that fixes it.

Exit status: 0 when nothing at or above --fail-on was found, 1 otherwise, 2 for bad flags
(also when --only and --skip leave no check to run), 3 when the cluster cannot be read or
most checks were skipped because a kind may not be listed. A kind you may not list makes its
checks "skipped: forbidden".`

const diagnoseExample = `  # the dev environment (namespace piyasa-chatbot-dev)
  kubectl piyasa diagnose --env dev

  # a namespace, failing on warnings too, as JUnit for CI
  kubectl piyasa diagnose -n my-ns --fail-on warning -o junit > diagnose.xml

  # only the database and worker checks
  kubectl piyasa diagnose --env prod --only database,workers

  # with live probes: exec pg_isready, redis-cli ping and df, GET /readyz, DNS
  kubectl piyasa diagnose --env prod --probe

  # compare the .env key names with the Secret's (names only, never values)
  kubectl piyasa diagnose --env prod --env-file .env

  # what a code means
  kubectl piyasa diagnose explain PIY401`

// NewCmd returns the root command of kubectl-piyasa-diagnose: it runs the
// checks, and has the explain and bundle subcommands.
func NewCmd(g *cli.Global) *cobra.Command {
	root := cli.NewRoot("diagnose", g)
	root.Use = "kubectl-piyasa-diagnose [--env dev|prod | -n NS] [flags]"
	root.Long = diagnoseLong
	root.Example = diagnoseExample
	o := addChecks(root, g)
	regions := &fleetRegions{root: o, runs: map[*cli.Global]*Options{}}
	fleetcmd.Add(root, g, regions.newCmd).Across = regions.across
	root.AddCommand(NewCmdExplain(g), NewCmdBundle(g), logs.NewCmd(g), top.NewCmd(g))
	return root
}

// newCmdChecks is the checks alone, without the root's subcommands: the
// command that a fan-out (--fleet, --contexts) runs in each cluster.
func newCmdChecks(g *cli.Global) *cobra.Command {
	cmd := &cobra.Command{Use: "diagnose"}
	addChecks(cmd, g)
	return cmd
}

// addChecks makes cmd run the checks, with their flags; it returns their Options.
func addChecks(cmd *cobra.Command, g *cli.Global) *Options {
	o := NewOptions(g)
	cmd.Args = cobra.NoArgs
	cmd.RunE = cli.RunE(o)
	f := cmd.Flags()
	f.StringVar(&o.Only, "only", "", "Run only these checks: codes (PIY401), prefixes (PIY4*) or areas (database), comma-separated")
	f.StringVar(&o.Skip, "skip", "", "Skip these checks: codes, prefixes or areas, comma-separated")
	f.StringVar(&o.MinSeverity, "min-severity", o.MinSeverity, "Show findings at or above: info|warning|error")
	f.StringVar(&o.FailOn, "fail-on", o.FailOn, "Exit 1 when a finding at or above this severity is found: error|warning")
	f.BoolVar(&o.Probe, "probe", false, "Also run live probes: exec pg_isready, redis-cli ping and df in the pods, GET /readyz through the pod proxy, DNS of the Ingress hosts")
	f.StringVar(&o.EnvFile, "env-file", "", "Compare the key names of this .env file with the Secret's (values are never read into the report)")
	f.Int64Var(&o.ChunkSize, "chunk-size", o.ChunkSize, "Page size of each LIST request")
	o.Print.AddFlags(cmd)
	_ = cmd.RegisterFlagCompletionFunc("fail-on", cli.FixedCompletion("error", "warning"))
	_ = cmd.RegisterFlagCompletionFunc("min-severity", cli.FixedCompletion("info", "warning", "error"))
	_ = cmd.RegisterFlagCompletionFunc("only", codeCompletion)
	_ = cmd.RegisterFlagCompletionFunc("skip", codeCompletion)
	return o
}

func codeCompletion(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return append(CodeIDs(), areaNames()...), cobra.ShellCompDirectiveNoFileComp
}

// Complete resolves the namespace and environment, parses the flags and
// reads the key names of --env-file: every input is checked here and in
// Validate, before the first request to the cluster.
func (o *Options) Complete(_ *cobra.Command, _ []string) error {
	if err := o.Global.Complete(); err != nil {
		return err
	}
	var err error
	if o.Only != "" {
		if o.cfg.Only, err = ParseCodeSet(o.Only); err != nil {
			return cli.Usagef("--only: %v", err)
		}
	}
	if o.Skip != "" {
		if o.cfg.Skip, err = ParseCodeSet(o.Skip); err != nil {
			return cli.Usagef("--skip: %v", err)
		}
	}
	if o.cfg.MinSeverity, err = ParseSeverity(o.MinSeverity); err != nil {
		return cli.Usagef("--min-severity: %v", err)
	}
	if o.cfg.FailOn, err = ParseSeverity(o.FailOn); err != nil || o.cfg.FailOn == SeverityInfo {
		return cli.Usagef("--fail-on: use error or warning, not %q", o.FailOn)
	}
	o.cfg.Probe = o.Probe
	if o.EnvFile != "" {
		f, err := envfile.ReadFile(o.EnvFile)
		if err != nil {
			return cli.Usagef("--env-file: %v", err).WithHint("the file holds KEY=value lines; create one with: kubectl piyasa deploy init-env -f .env")
		}
		o.cfg.EnvFileKeys = f.Keys()
		if o.cfg.EnvFileKeys == nil {
			o.cfg.EnvFileKeys = []string{}
		}
	}
	return nil
}

// Validate checks the flags; it does no I/O.
func (o *Options) Validate() error {
	if err := o.Print.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	if o.ChunkSize < 1 {
		return cli.Usagef("--chunk-size must be at least 1")
	}
	if o.cfg.FailOn.Rank() < o.cfg.MinSeverity.Rank() {
		return cli.Usagef("--fail-on %s is below --min-severity %s: findings that fail the run would be hidden", o.cfg.FailOn, o.cfg.MinSeverity)
	}
	if len(o.cfg.Selected()) == 0 {
		return cli.Usagef("no check is selected: --only %q and --skip %q leave nothing to run", o.Only, o.Skip).
			WithHint("see the codes and areas with: kubectl piyasa diagnose explain")
	}
	return nil
}

// Report reads the namespace and analyzes it. A kubeconfig, context or
// connection error is returned as it is (it is not a finding).
func (o *Options) Report(ctx context.Context) (*Report, *Clients, error) {
	start := time.Now()
	c, err := clientsFor(o.Global)
	if err != nil {
		return nil, nil, err
	}
	snap, err := Collect(ctx, c, o.Namespace, o.Env, o.Now(), o.ChunkSize)
	if err != nil {
		return nil, nil, err
	}
	var prober Prober
	if o.cfg.Probe && c.Config != nil {
		prober = &KubeProber{Kube: c.Kube, Config: rest.CopyConfig(c.Config), Namespace: o.Namespace}
	}
	rep := Analyze(ctx, snap, o.cfg, KubeLogs(c, o.Namespace), prober)
	rep.Stats.DurationSeconds = float64(time.Since(start).Milliseconds()) / 1000
	rep.Stats.Requests = c.Stats.Snapshot()
	return rep, c, nil
}

// Run runs the checks and prints the report. It returns exit 3 when most
// checks were skipped for lack of rights (the report says little), else exit
// 1 (silently) when a finding at or above --fail-on was found.
func (o *Options) Run(ctx context.Context) error {
	rep, _, err := o.Report(ctx)
	if err != nil {
		return err
	}
	o.last = rep
	switch {
	case o.Print.Structured():
		err = o.Print.PrintDocument(o.Out, "DiagnoseReport", rep)
	case o.Print.Output == JUnit:
		err = PrintJUnit(o.Out, rep)
	default:
		err = PrintTable(o.Out, rep, o.Print.IsWide())
	}
	if err != nil {
		return err
	}
	if e := rep.ForbiddenError(); e != nil {
		return e
	}
	if rep.Failing() {
		return cli.ExitCode(cli.ExitFailed)
	}
	return nil
}

// ExplainOptions are the arguments of `diagnose explain`.
type ExplainOptions struct {
	*cli.Global
	Print *output.Flags
	args  []string
	codes []Code
}

// NewCmdExplain returns `diagnose explain [CODE|AREA...]`.
func NewCmdExplain(g *cli.Global) *cobra.Command {
	o := &ExplainOptions{Global: g, Print: output.NewFlags()}
	cmd := &cobra.Command{
		Use:   "explain [CODE|AREA...]",
		Short: "Print the long text of diagnose codes (all codes without arguments)",
		Example: `  kubectl piyasa diagnose explain PIY401
  kubectl piyasa diagnose explain database -o json`,
		RunE: cli.RunE(o),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return CodeIDs(), cobra.ShellCompDirectiveNoFileComp
		},
	}
	o.Print.AddFlags(cmd)
	return cmd
}

// Complete selects the codes the arguments name (every code without arguments).
func (o *ExplainOptions) Complete(_ *cobra.Command, args []string) error {
	o.args = args
	if len(args) == 0 {
		o.codes = Codes
		return nil
	}
	set, err := ParseCodeSet(strings.Join(args, ","))
	if err != nil {
		return cli.Usagef("%v", err)
	}
	for _, c := range Codes {
		if set[c.ID] {
			o.codes = append(o.codes, c)
		}
	}
	return nil
}

// Validate checks -o.
func (o *ExplainOptions) Validate() error {
	if err := o.Print.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	return nil
}

// Run prints the codes: a table for all of them (or -o wide), the long text for those named.
func (o *ExplainOptions) Run(context.Context) error {
	if o.Print.Structured() {
		return o.Print.PrintDocument(o.Out, "DiagnoseCodeList", map[string]any{"codes": o.codes})
	}
	if len(o.args) == 0 || o.Print.IsWide() {
		t := output.NewTable(o.Out, "CODE", "SEVERITY", "AREA", "TITLE").Severity("SEVERITY").Long("TITLE")
		for _, c := range o.codes {
			t.Append(c.ID, string(c.Severity), string(c.Area), c.Title)
		}
		return t.Render()
	}
	for i, c := range o.codes {
		if i > 0 {
			fmt.Fprintln(o.Out)
		}
		probe := ""
		if c.Probe {
			probe = ", runs only with --probe"
		}
		fmt.Fprintf(o.Out, "%s (%s, %s%s): %s\n\n%s\n\nFix: %s\n", c.ID, c.Severity, c.Area, probe, c.Title, wrap(c.Explain, 80), c.Fix)
	}
	return nil
}

func wrap(s string, width int) string {
	var b strings.Builder
	n := 0
	for _, w := range strings.Fields(s) {
		if n > 0 && n+1+len(w) > width {
			b.WriteByte('\n')
			n = 0
		} else if n > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}
