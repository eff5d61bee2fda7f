package deploy

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/fleet"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/replication"
)

// FailoverKind is the kind of failover's -o json|yaml document.
const FailoverKind = "Failover"

// DefaultAcceptDataLoss is the standby's lag, in seconds, over which
// failover refuses without --accept-data-loss (diagnose PIY983's limit).
const DefaultAcceptDataLoss = 60

// FailoverOptions is `kubectl piyasa failover` (kubectl-piyasa-deploy
// failover): the standby region named by --to becomes the primary.
type FailoverOptions struct {
	*cli.Global
	Fleet   string
	To      string
	Planned bool
	// AcceptDataLoss is the standby lag, in seconds, accepted as lost.
	AcceptDataLoss int
	Yes            bool
	DryRun         cli.DryRun
	Timeout        time.Duration
	ClusterTimeout time.Duration
	// FenceWait is how long an unplanned failover keeps trying to fence an
	// old primary that does not answer before it starts the workers.
	FenceWait time.Duration
	Print     *output.Flags

	fl       *fleet.Fleet
	repl     fleet.Replication
	from, to *foRegion
	doc      *FailoverReport
	start    time.Time
	// waited sums the time spent waiting for rollouts, replay and the cluster.
	waited time.Duration
}

// FailoverReport is failover's document: what it did, step by step, and the
// recovery point.
type FailoverReport struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Planned bool   `json:"planned"`
	// Fenced is true when the old primary's workers, api, frontend and
	// PostgreSQL were stopped.
	Fenced bool           `json:"fenced"`
	Steps  []FailoverStep `json:"steps"`
	// RPO is the data the standby lacked at promotion.
	RPO *FailoverRPO `json:"rpo,omitempty"`
	// TotalWorkers is the worker count started in the new primary.
	TotalWorkers int32 `json:"totalWorkers"`
	// Seconds is the whole failover; WaitSeconds the part spent waiting for
	// rollouts, pods, replay and the clusters; OverheadSeconds the rest.
	Seconds         float64 `json:"seconds"`
	WaitSeconds     float64 `json:"waitSeconds"`
	OverheadSeconds float64 `json:"overheadSeconds"`
	FleetFile       string  `json:"fleetFile,omitempty"`
	Rejoin          string  `json:"rejoin,omitempty"`
	ExitCode        int     `json:"exitCode"`
}

// FailoverStep is one step of a failover.
type FailoverStep struct {
	Region  string  `json:"region"`
	Step    string  `json:"step"`
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"`
}

// FailoverRPO is the recovery point of a failover: what the standby had
// replayed when it was promoted.
type FailoverRPO struct {
	// Seconds is the time between the last transaction the standby had
	// replayed and its promotion: an upper bound of the writes lost (0 for
	// a switchover, which waits until everything is replayed).
	Seconds      float64    `json:"seconds"`
	LastReplayed *time.Time `json:"lastReplayed,omitempty"`
	PromotedAt   time.Time  `json:"promotedAt"`
	// Bytes is the WAL received but not replayed before the promotion
	// replayed it (none of it lost).
	Bytes int64 `json:"bytes"`
}

// NewCmdFailover returns `failover` (with `failover rejoin`).
func NewCmdFailover(g *cli.Global) *cobra.Command {
	o := &FailoverOptions{Global: g, AcceptDataLoss: DefaultAcceptDataLoss, Timeout: DefaultTimeout, ClusterTimeout: fleet.DefaultClusterTimeout, Print: output.NewFlags()}
	cmd := &cobra.Command{
		Use:   "failover --fleet FILE --to REGION [--planned]",
		Short: "Make a standby region the primary: a planned switchover, or a failover when the primary is lost",
		Long: `Make the standby region REGION (its name or context in the fleet file) the primary.

--planned (switchover, nothing lost): scale the old primary's workers, api and frontend
to 0, stop its PostgreSQL (a clean shutdown sends the standby all its WAL), wait until
the standby has replayed everything, promote it, make it the primary region (TLS, pg_hba,
replication Service, backups, HPAs and PDBs), make the old primary follow it as a hot
standby, and start the workers, api and frontend there with the same TOTAL_WORKERS.

Without --planned (the primary is lost): fence the old primary where it can be reached
(workers, api, frontend and PostgreSQL to 0, each within --cluster-timeout), promote the
standby, make it the primary region and start its api and frontend; its workers start
once the old primary is fenced: when it did not answer, failover keeps trying every
second for --fence-wait (default 0: the workers start at once). Print the recovery point
(the standby's last replayed transaction) and how to bring the old region back
('kubectl piyasa failover rejoin'). A standby whose lag is over --accept-data-loss
seconds (default 60) is refused.

Either way the fleet file is rewritten with the new roles (only the two role lines).
Asks to type the new primary's region name unless --yes. --dry-run=client prints the plan.
Exit codes: 0 done; 1 a step failed (the message says what state it left), or the old
primary could not be fenced (rejoin it before it comes back); 2 bad input or not
confirmed; 3 a cluster unreachable or forbidden; 130 interrupted.`,
		Example: `  kubectl piyasa failover --fleet piyasa-fleet.yaml --to us --planned --dry-run=client
  kubectl piyasa failover --fleet piyasa-fleet.yaml --to us --planned
  kubectl piyasa failover --fleet piyasa-fleet.yaml --to us --accept-data-loss 300 --yes
  kubectl piyasa failover rejoin --fleet piyasa-fleet.yaml eu`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	f := cmd.Flags()
	f.StringVar(&o.Fleet, "fleet", "", "The fleet file ("+fleet.DefaultFile+"); rewritten with the new roles")
	f.StringVar(&o.To, "to", "", "The standby region (name or context) that becomes the primary")
	f.BoolVar(&o.Planned, "planned", false, "Switchover: stop the old primary cleanly and lose nothing (it must be reachable)")
	f.IntVar(&o.AcceptDataLoss, "accept-data-loss", o.AcceptDataLoss, "Go on when the standby lags by up to this many seconds")
	f.BoolVar(&o.Yes, "yes", false, "Do not ask to type the region's name")
	f.DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for each rollout, stop and replay")
	f.DurationVar(&o.ClusterTimeout, "cluster-timeout", o.ClusterTimeout, "How long to wait for a region's answer (the old primary may be gone)")
	f.DurationVar(&o.FenceWait, "fence-wait", 0, "Without --planned: keep trying to fence an old primary that does not answer this long before starting the workers")
	cli.AddDryRunFlag(cmd)
	o.Print.AddFlags(cmd)
	_ = cmd.MarkFlagFilename("fleet", "yaml", "yml")
	cmd.AddCommand(newCmdRejoin(g))
	return cmd
}

// Complete reads the fleet file and makes each region's Global.
func (o *FailoverOptions) Complete(cmd *cobra.Command, _ []string) error {
	for _, name := range []string{"context", "namespace", "env"} {
		if f := cmd.Flag(name); f != nil && f.Changed {
			return cli.Usagef("--%s cannot be used with failover: the fleet file names each region's context, environment and namespace", name)
		}
	}
	var err error
	if o.DryRun, err = completeDryRun(cmd, o.Global); err != nil {
		return err
	}
	if o.Fleet == "" || o.To == "" {
		return cli.Usagef("failover needs --fleet FILE and --to REGION").WithHint("kubectl piyasa failover --fleet %s --to REGION [--planned]", fleet.DefaultFile)
	}
	if o.fl, err = fleet.Load(o.Fleet); err != nil {
		return err
	}
	if o.repl, err = o.fl.Replication(); err != nil {
		return err
	}
	to, ok := fleet.FindRegion(o.fl, o.To)
	if !ok {
		return cli.Usagef("--to %s: no region of %s has this name or context", o.To, o.Fleet).WithHint("the regions: %s", regionList(o.fl))
	}
	from := o.fl.Primary()
	if to.Name == from.Name {
		return cli.Usagef("--to %s: region %s is already the primary in %s", o.To, to.Name, o.Fleet)
	}
	if o.from, err = newFoRegion(o.Global, from); err != nil {
		return err
	}
	o.to, err = newFoRegion(o.Global, to)
	return err
}

// Validate checks the flags (no I/O).
func (o *FailoverOptions) Validate() error {
	if err := o.Print.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	if o.AcceptDataLoss < 0 {
		return cli.Usagef("--accept-data-loss must be 0 or more seconds")
	}
	if o.Timeout <= 0 || o.ClusterTimeout <= 0 {
		return cli.Usagef("--timeout and --cluster-timeout must be positive")
	}
	if o.FenceWait < 0 || (o.FenceWait > 0 && o.Planned) {
		return cli.Usagef("--fence-wait is for an unplanned failover (without --planned), 0 or more")
	}
	if o.DryRun == cli.DryRunServer {
		return cli.Usagef("--dry-run=server is not supported by failover: use --dry-run=client for the plan")
	}
	return nil
}

// regionList names the regions of a fleet: "eu (primary), us (standby)".
func regionList(f *fleet.Fleet) string {
	var s []string
	for _, r := range f.Regions {
		s = append(s, fmt.Sprintf("%s (%s, context %s)", r.Name, r.Role, r.Context))
	}
	return strings.Join(s, ", ")
}

// Run reads both regions, checks the standby, asks, and fails over.
func (o *FailoverOptions) Run(ctx context.Context) error {
	o.start = o.Now()
	o.doc = &FailoverReport{From: o.from.Name, To: o.to.Name, Planned: o.Planned}
	kind := "failover"
	if o.Planned {
		kind = "switchover"
	}
	o.Infof("%s from %s (context %s) to %s (context %s)%s\n", kind, o.from.Name, o.from.Context, o.to.Name, o.to.Context, o.DryRun.Suffix())
	st, err := o.check(ctx)
	if err != nil {
		return err
	}
	if o.DryRun.Client() {
		o.plan(st)
		return nil
	}
	// The rights in both regions before anything changes (the old primary's
	// only when it answers, in an unplanned failover).
	for _, r := range []*foRegion{o.to, o.from} {
		if err := r.checkRights(ctx, "failover", o.ClusterTimeout); err != nil && (o.Planned || r == o.to || isForbidden(err)) {
			return o.regionErr(r, err, "before anything was changed")
		}
	}
	if !o.Yes {
		if err := confirmRegion(o.Global, fmt.Sprintf("This makes region %s the primary: %s.", o.to.Name, o.effect()), o.to.Name); err != nil {
			return err
		}
	}
	if o.Planned {
		err = o.switchover(ctx)
	} else {
		err = o.failover(ctx, st)
	}
	return o.finish(err)
}

// effect says what the confirmed failover does to the old primary.
func (o *FailoverOptions) effect() string {
	if o.Planned {
		return fmt.Sprintf("the app in %s stops, its database follows %s", o.from.Name, o.to.Name)
	}
	return fmt.Sprintf("%s is fenced where it answers and its writes the standby lacks are lost", o.from.Name)
}

// check reads the standby (it must be one, streaming for a switchover, not
// too far behind) and, for a switchover, the old primary (it must answer).
// It returns the standby's state.
func (o *FailoverOptions) check(ctx context.Context) (*replication.Status, error) {
	st, err := o.to.replication(ctx, o.ClusterTimeout)
	if err != nil {
		return nil, o.regionErr(o.to, err, "cannot read the standby's database")
	}
	if st.Role != replication.RoleStandby {
		return nil, cli.Failedf("region %s's database is not a standby (it is a %s): nothing to promote", o.to.Name, st.Role).
			WithHint("kubectl piyasa diagnose --fleet %s --probe (two writable databases are PIY991)", o.Fleet)
	}
	if o.Planned {
		if st.ReceiverStatus != "streaming" {
			return nil, cli.Failedf("region %s's standby is not streaming from the primary (%s): a switchover would wait forever", o.to.Name, st.Message).
				WithHint("fix the replication first (kubectl piyasa deploy status --fleet %s), or fail over without --planned", o.Fleet)
		}
		if _, err := o.from.replication(ctx, o.ClusterTimeout); err != nil {
			return nil, o.regionErr(o.from, err, "a switchover needs the old primary").
				WithHint("if region %s is lost, fail over without --planned", o.from.Name)
		}
	}
	if lag := st.LagSeconds; lag > float64(o.AcceptDataLoss) {
		return nil, cli.Failedf("region %s's standby lags by %s (%s): over --accept-data-loss %d s", o.to.Name, seconds(lag), st.Message, o.AcceptDataLoss).
			WithHint("writes of the last %s may be lost: pass --accept-data-loss %d to go on anyway", seconds(lag), int(math.Ceil(lag)))
	}
	return st, nil
}

// plan prints the steps a failover would take.
func (o *FailoverOptions) plan(st *replication.Status) {
	w := o.Out
	fmt.Fprintf(w, "standby %s: %s\n", o.to.Name, st.Message)
	steps := o.steps()
	for i, s := range steps {
		fmt.Fprintf(w, "%d. %s (dry run)\n", i+1, s)
	}
}

// steps are the failover's steps in words, for the plan.
func (o *FailoverOptions) steps() []string {
	f, t := o.from.Name, o.to.Name
	start := fmt.Sprintf("%s: workers (same TOTAL_WORKERS), api and frontend started", t)
	rewrite := fmt.Sprintf("%s rewritten: %s primary, %s standby", o.Fleet, t, f)
	if o.Planned {
		return []string{
			fmt.Sprintf("%s: workers, api and frontend scaled to 0", f),
			fmt.Sprintf("%s: PostgreSQL stopped (a clean shutdown sends %s all its WAL)", f, t),
			fmt.Sprintf("%s: wait until everything received is replayed", t),
			fmt.Sprintf("%s: PostgreSQL promoted", t),
			fmt.Sprintf("%s: made the primary region (TLS, pg_hba, replication Service, backups, HPAs, PDBs); PostgreSQL restarts", t),
			fmt.Sprintf("%s: PostgreSQL follows %s as a hot standby (standby role, workers, api and frontend at 0)", f, t),
			start, rewrite,
		}
	}
	return []string{
		fmt.Sprintf("%s: fenced where it answers within %s: workers, api, frontend and PostgreSQL to 0", f, o.ClusterTimeout),
		fmt.Sprintf("%s: PostgreSQL promoted; the recovery point printed", t),
		fmt.Sprintf("%s: made the primary region (TLS, pg_hba, replication Service, backups, HPAs, PDBs); PostgreSQL restarts", t),
		fmt.Sprintf("%s: api and frontend started", t),
		fmt.Sprintf("%s: if not fenced, tried again every second for --fence-wait %s", f, o.FenceWait),
		fmt.Sprintf("%s: workers started (same TOTAL_WORKERS)", t), rewrite,
		fmt.Sprintf("later: kubectl piyasa failover rejoin --fleet %s %s", o.Fleet, f),
	}
}

// step runs one step in region r, timing it and recording it in the report;
// wait says the step is waiting (for a rollout, a pod, the replay), not work.
func (o *FailoverOptions) step(r *foRegion, what string, wait bool, fn func() error) error {
	o.Infof("%s: %s\n", r.Name, what)
	t0 := time.Now()
	err := fn()
	d := time.Since(t0)
	if wait {
		o.waited += d
	}
	s := FailoverStep{Region: r.Name, Step: what, Seconds: round(d.Seconds())}
	if err != nil {
		s.Error = cli.Classify(err, "").Msg
	}
	o.doc.Steps = append(o.doc.Steps, s)
	return err
}

// finish prints the report (text or document) and returns the exit error.
func (o *FailoverOptions) finish(err error) error {
	d := o.Now().Sub(o.start)
	o.doc.Seconds, o.doc.WaitSeconds = round(d.Seconds()), round(o.waited.Seconds())
	o.doc.OverheadSeconds = round(max(0, d.Seconds()-o.waited.Seconds()))
	e := o.Outcome(err)
	if e != nil {
		o.doc.ExitCode = e.Code
	}
	if o.Print.Structured() {
		if perr := o.Print.PrintDocument(o.Out, FailoverKind, o.doc); perr != nil {
			return perr
		}
	} else {
		o.report(o.Out)
	}
	if e == nil {
		return nil
	}
	return e
}

// report prints the failover's outcome in words.
func (o *FailoverOptions) report(w io.Writer) {
	d := o.doc
	for _, s := range d.Steps {
		status := "done"
		if s.Error != "" {
			status = "FAILED: " + s.Error
		}
		fmt.Fprintf(w, "%-4s %-6.1fs %s: %s\n", "", s.Seconds, s.Region, s.Step+" "+status)
	}
	if d.RPO != nil {
		fmt.Fprintf(w, "RPO: %s", seconds(d.RPO.Seconds))
		if d.RPO.LastReplayed != nil {
			fmt.Fprintf(w, " (the last transaction the standby had replayed committed at %s, promoted at %s)", d.RPO.LastReplayed.UTC().Format(time.RFC3339), d.RPO.PromotedAt.UTC().Format(time.RFC3339))
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "took %s: %s waiting for rollouts, pods and replay, %s of the failover's own work\n", seconds(d.Seconds), seconds(d.WaitSeconds), seconds(d.OverheadSeconds))
	if d.Rejoin != "" {
		fmt.Fprintf(w, "to bring %s back as a standby: %s\n", d.From, d.Rejoin)
	}
}

// regionErr words an error reading or changing a region.
func (o *FailoverOptions) regionErr(r *foRegion, err error, what string) *cli.Error {
	e := r.g.Outcome(err)
	return &cli.Error{Code: e.Code, Msg: fmt.Sprintf("region %s (context %s): %s: %s", r.Name, r.Context, what, e.Msg), Hint: e.Hint}
}

func round(s float64) float64 { return math.Round(s*10) / 10 }

func seconds(s float64) string { return fmt.Sprintf("%.1f s", s) }
