package diagnose

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/rest"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/envfile"
	"github.com/piyasa/kubectl-piyasa/shared/output"
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
	// RESTConfig, when set, replaces the flags' client configuration (tests).
	RESTConfig *rest.Config
}

// NewOptions returns the defaults.
func NewOptions(g *cli.Global) *Options {
	return &Options{Global: g, Print: output.NewFlags(JUnit), MinSeverity: string(SeverityInfo), FailOn: string(SeverityError), ChunkSize: DefaultChunkSize}
}

const diagnoseLong = `Check the app's namespace for the faults of the guide's Troubleshooting section and
DESIGN.md's traps, read-only. Each finding has a stable code (see 'kubectl piyasa diagnose
explain'), a severity, the object, the evidence and the command that fixes it.

Exit status: 0 when nothing at or above --fail-on was found, 1 otherwise, 2 for bad flags,
3 when the cluster cannot be read. A kind you may not list makes its checks "skipped: forbidden".`

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

// NewCmdDiagnose makes root (the binary kubectl-piyasa-diagnose) run the
// checks and adds the explain and bundle subcommands.
func NewCmdDiagnose(root *cobra.Command, g *cli.Global) *cobra.Command {
	o := NewOptions(g)
	root.Use = "kubectl-piyasa-diagnose [--env dev|prod | -n NS] [flags]"
	root.Long = diagnoseLong
	root.Example = diagnoseExample
	root.Args = cobra.NoArgs
	root.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := o.Complete(); err != nil {
			return err
		}
		if err := o.Validate(); err != nil {
			return err
		}
		return o.Run(cmd)
	}
	f := root.Flags()
	f.StringVar(&o.Only, "only", "", "Run only these checks: codes (PIY401), prefixes (PIY4*) or areas (database), comma-separated")
	f.StringVar(&o.Skip, "skip", "", "Skip these checks: codes, prefixes or areas, comma-separated")
	f.StringVar(&o.MinSeverity, "min-severity", o.MinSeverity, "Show findings at or above: info|warning|error")
	f.StringVar(&o.FailOn, "fail-on", o.FailOn, "Exit 1 when a finding at or above this severity is found: error|warning")
	f.BoolVar(&o.Probe, "probe", false, "Also run live probes: exec pg_isready, redis-cli ping and df in the pods, GET /readyz through the pod proxy, DNS of the Ingress hosts")
	f.StringVar(&o.EnvFile, "env-file", "", "Compare the key names of this .env file with the Secret's (values are never read into the report)")
	f.Int64Var(&o.ChunkSize, "chunk-size", o.ChunkSize, "Page size of each LIST request")
	o.Print.AddFlags(root)
	_ = root.RegisterFlagCompletionFunc("fail-on", fixedCompletion("error", "warning"))
	_ = root.RegisterFlagCompletionFunc("min-severity", fixedCompletion("info", "warning", "error"))
	_ = root.RegisterFlagCompletionFunc("only", codeCompletion)
	_ = root.RegisterFlagCompletionFunc("skip", codeCompletion)
	root.AddCommand(NewCmdExplain(g), NewCmdBundle(g))
	return root
}

func fixedCompletion(v ...string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return v, cobra.ShellCompDirectiveNoFileComp
	}
}

func codeCompletion(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return append(CodeIDs(), areaNames()...), cobra.ShellCompDirectiveNoFileComp
}

// Complete resolves the namespace and environment and parses the flags.
func (o *Options) Complete() error {
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

// Validate checks the flags.
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
	return nil
}

// Collect reads the namespace and analyzes it.
func (o *Options) Collect(cmd *cobra.Command) (*Report, error) {
	cfg := o.RESTConfig
	if cfg == nil {
		var err error
		if cfg, err = o.Global.RESTConfig(); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	c, err := NewClients(cfg)
	if err != nil {
		return nil, err
	}
	ctx := cmd.Context()
	snap, err := Collect(ctx, c, o.Namespace, o.Env, o.Now(), o.ChunkSize)
	if err != nil {
		return nil, err
	}
	var prober Prober
	if o.cfg.Probe {
		prober = &KubeProber{Kube: c.Kube, Config: rest.CopyConfig(cfg), Namespace: o.Namespace}
	}
	rep := Analyze(ctx, snap, o.cfg, KubeLogs(c, o.Namespace), prober)
	rep.Stats.DurationSeconds = float64(time.Since(start).Milliseconds()) / 1000
	rep.Stats.Requests = c.Stats.Snapshot()
	return rep, nil
}

// Run runs the checks, prints the report and returns exit 1 (silently) when a
// finding at or above --fail-on was found.
func (o *Options) Run(cmd *cobra.Command) error {
	rep, err := o.Collect(cmd)
	if err != nil {
		return err
	}
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
	if rep.Failing() {
		return cli.ExitCode(cli.ExitFailed)
	}
	return nil
}

// NewCmdExplain returns `diagnose explain [CODE...]`.
func NewCmdExplain(g *cli.Global) *cobra.Command {
	pf := output.NewFlags()
	cmd := &cobra.Command{
		Use:   "explain [CODE|AREA...]",
		Short: "Print the long text of diagnose codes (all codes without arguments)",
		Example: `  kubectl piyasa diagnose explain PIY401
  kubectl piyasa diagnose explain database -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := pf.Validate(); err != nil {
				return cli.Usagef("%v", err)
			}
			var codes []Code
			if len(args) == 0 {
				codes = Codes
			} else {
				set, err := ParseCodeSet(strings.Join(args, ","))
				if err != nil {
					return cli.Usagef("%v", err)
				}
				for _, c := range Codes {
					if set[c.ID] {
						codes = append(codes, c)
					}
				}
			}
			if pf.Structured() {
				return pf.PrintDocument(g.Out, "DiagnoseCodeList", map[string]any{"codes": codes})
			}
			if len(args) == 0 || pf.IsWide() {
				t := output.NewTable(g.Out, "CODE", "SEVERITY", "AREA", "TITLE")
				for _, c := range codes {
					t.Append(c.ID, string(c.Severity), string(c.Area), c.Title)
				}
				return t.Render()
			}
			for i, c := range codes {
				if i > 0 {
					fmt.Fprintln(g.Out)
				}
				probe := ""
				if c.Probe {
					probe = ", runs only with --probe"
				}
				fmt.Fprintf(g.Out, "%s (%s, %s%s): %s\n\n%s\n\nFix: %s\n", c.ID, c.Severity, c.Area, probe, c.Title, wrap(c.Explain, 80), c.Fix)
			}
			return nil
		},
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return CodeIDs(), cobra.ShellCompDirectiveNoFileComp
		},
	}
	pf.AddFlags(cmd)
	return cmd
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

// NewCmd returns the root command of kubectl-piyasa-diagnose.
func NewCmd(g *cli.Global) *cobra.Command {
	root := cli.NewRoot("diagnose", g)
	NewCmdDiagnose(root, g)
	return root
}
