package deploy

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/fleet"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/rbac"
	"github.com/piyasa/kubectl-piyasa/shared/suite"
)

// updateFleet is `deploy update --fleet FILE`: a release wave by wave
// across the regions of a fleet file, each wave gated by diagnose.
type updateFleet struct {
	File   string
	GateOn string
	// Timeout bounds the reads of each region before the release (--cluster-timeout).
	Timeout time.Duration
	Print   *output.Flags

	fleet *fleet.Fleet
	cmd   *cobra.Command
}

// prepareRegion, when set, is called with each region's Global before it is
// used: the unit tests set fake clients there.
var prepareRegion func(fleet.Region, *cli.Global)

func (u *updateFleet) on() bool { return u.File != "" }

func (u *updateFleet) addFlags(cmd *cobra.Command) {
	u.cmd, u.GateOn, u.Timeout, u.Print = cmd, gateError, fleet.DefaultClusterTimeout, output.NewFlags()
	fs := cmd.Flags()
	fs.StringVar(&u.File, "fleet", "", "Release to every region of this fleet file ("+fleet.DefaultFile+"), wave by wave, each wave gated by diagnose")
	fs.StringVar(&u.GateOn, "gate-on", u.GateOn, "With --fleet: a diagnose finding at or above this severity fails a wave: error|warning")
	fs.DurationVar(&u.Timeout, "cluster-timeout", u.Timeout, "With --fleet: how long to wait for each region's answer before the release starts")
	u.Print.AddFlags(cmd)
	_ = cmd.MarkFlagFilename("fleet", "yaml", "yml")
	_ = cmd.RegisterFlagCompletionFunc("gate-on", cli.FixedCompletion(gateError, gateWarning))
}

// complete reads the fleet file (exit 2 with its line when it is wrong) and
// refuses the flags the file replaces.
func (u *updateFleet) complete(cmd *cobra.Command) error {
	changed := func(name string) bool { f := cmd.Flag(name); return f != nil && f.Changed }
	if !u.on() {
		for _, name := range []string{"gate-on", "cluster-timeout", "output"} {
			if changed(name) {
				return cli.Usagef("--%s goes with --fleet", name)
			}
		}
		if changed("fleet") {
			return cli.Usagef("--fleet: give the fleet file")
		}
		return nil
	}
	for _, name := range []string{"context", "namespace", "env"} {
		if changed(name) {
			return cli.Usagef("--%s cannot be used with --fleet: the fleet file names each region's context, environment and namespace", name).
				WithHint("leave out --%s, or update one cluster without --fleet", name)
		}
	}
	var err error
	u.fleet, err = fleet.Load(u.File)
	return err
}

// validate checks the flags of a release (no I/O).
func (u *updateFleet) validate(o *UpdateOptions) error {
	if !u.on() {
		return nil
	}
	switch {
	case u.GateOn != gateError && u.GateOn != gateWarning:
		return cli.Usagef("--gate-on: use error or warning, not %q", u.GateOn)
	case u.Timeout <= 0:
		return cli.Usagef("--cluster-timeout must be more than 0")
	case o.NoRollback:
		return cli.Usagef("--no-rollback cannot be used with --fleet: a failed wave is always rolled back")
	case !o.Wait:
		return cli.Usagef("--wait=false cannot be used with --fleet: each wave is waited for and gated by diagnose")
	case o.DryRun == cli.DryRunServer:
		return cli.Usagef("--dry-run=server cannot be used with --fleet: --dry-run=client prints the plan")
	case u.Print.Output == output.Wide:
		return cli.Usagef("-o wide cannot be used with --fleet: use -o table|json|yaml")
	}
	return u.Print.Validate()
}

// regionRun is one region of a release: the update on the region's Global,
// the workloads it moves, and what happened there (an entry of the Release).
type regionRun struct {
	region  fleet.Region
	o       *UpdateOptions
	targets []target
	rel     *RegionRelease
	// out prefixes the region's progress on the command's standard error.
	out *prefixWriter
	// set is true once the region's new images are set (a rollback must put them back).
	set bool
	// gateErr is why the region's gate failed.
	gateErr error
}

// newRegionRun makes the update of region r: a Global with o's kubectl flags
// and r's context, environment and namespace, whose output goes to o's
// standard error, each line prefixed with the region's name.
func (o *UpdateOptions) newRegionRun(r fleet.Region, rel *RegionRelease, mu *sync.Mutex) *regionRun {
	pw := &prefixWriter{w: o.ErrOut, mu: mu, prefix: "[" + r.Name + "] "}
	g := cli.NewGlobal(genericiooptions.IOStreams{In: strings.NewReader(""), Out: pw, ErrOut: pw})
	g.Inherit(o.Global, r.Context, r.Environment, r.EffectiveNamespace())
	if prepareRegion != nil {
		prepareRegion(r, g)
	}
	ro := &UpdateOptions{Global: g, Image: o.Image, FrontendImage: o.FrontendImage, ChangeCause: o.ChangeCause,
		RollbackTimeout: o.RollbackTimeout, DryRun: o.DryRun, waitFlags: o.waitFlags, apiRef: o.apiRef, feRef: o.feRef}
	if r.Role == fleet.RolePrimary {
		// Its rights include the migration's (which runs with o.Migrate).
		ro.Migrate.On, ro.Migrate.Backup = o.Migrate.On, o.Migrate.Backup
	}
	*rel = RegionRelease{Region: r.Name, Context: r.Context, Role: r.Role, Namespace: r.EffectiveNamespace(), Wave: r.Wave, State: StateNotTouched}
	return &regionRun{region: r, o: ro, rel: rel, out: pw}
}

// outcome classifies the error of a step of the region as its command would exit.
func (r *regionRun) outcome(err error) *cli.Error {
	if err == nil {
		return nil
	}
	return r.o.Global.Outcome(err)
}

// read reads the region's workloads and checks its rights (except in a dry
// run), within the cluster timeout: nothing is changed.
func (r *regionRun) read(ctx context.Context, timeout time.Duration) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := r.o.Global.Complete()
	if err == nil {
		r.rel.Namespace = r.o.Namespace
		r.o.Migrate.Backup.Resolve(r.o.Env) // a backup first by default when the primary is prod
		r.targets, err = r.o.loadTargets(cctx)
	}
	if err == nil && !r.o.DryRun.Active() {
		var needs *rbac.Needs
		if needs, err = r.o.NeededRights(cctx); err == nil {
			err = r.o.Global.CheckRights(cctx, needs)
		}
	}
	for _, t := range r.targets {
		r.rel.Images = append(r.rel.Images, ImageChange{Component: t.comp.Name, Workload: t.name, From: t.oldImage, To: t.newImage})
	}
	switch {
	case err == nil:
	case ctx.Err() == nil && errors.Is(cctx.Err(), context.DeadlineExceeded):
		r.rel.State, r.rel.ExitCode = StateUnreachable, cli.ExitCluster
		r.rel.Reason = fmt.Sprintf("no answer from context %s within %s (--cluster-timeout)", r.region.Context, timeout)
	default:
		r.rel.setOutcome(r.outcome(err), StateFailed)
	}
}

// update sets the region's new images and waits for them to roll out; a
// failed rollout is rolled back (the existing update's path).
func (r *regionRun) update(ctx context.Context) {
	cause := r.o.changeCause()
	n, err := r.o.applyImages(ctx, r.targets, cause)
	r.set = n > 0
	if err == nil {
		err = r.o.waitForUpdate(ctx, r.targets, cause)
	}
	if err == nil {
		r.rel.State = StateUpdated
		return
	}
	state := StateFailed
	if r.set {
		state, r.set = StateRolledBack, false
	}
	r.rel.setOutcome(r.outcome(err), state)
	switch r.rel.State {
	case StateInterrupted:
		r.rel.Reason = "interrupted during the rollout: " + r.rel.Reason
	case StateUnreachable:
		r.rel.Reason += "; the new images stay set"
	}
}

// rollBack puts the region's old images back after its wave failed with failure.
func (r *regionRun) rollBack(ctx context.Context, failure error) {
	err := r.o.rollBack(ctx, r.targets, r.o.changeCause(), failure)
	r.set = false
	r.rel.setOutcome(r.outcome(err), StateRolledBack)
}

// prefixWriter writes whole lines to w, each with prefix, under mu (the
// regions of a wave write to one stream at once).
type prefixWriter struct {
	w      interface{ Write([]byte) (int, error) }
	mu     *sync.Mutex
	prefix string
	part   []byte
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.part = append(p.part, b...)
	for {
		i := strings.IndexByte(string(p.part), '\n')
		if i < 0 {
			return len(b), nil
		}
		if _, err := fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.part[:i]); err != nil {
			return len(b), err
		}
		p.part = p.part[i+1:]
	}
}

// flush writes what is left of a last line without its newline.
func (p *prefixWriter) flush() {
	if len(p.part) > 0 {
		_, _ = p.Write([]byte("\n"))
	}
}

// inParallel runs fn for each run at once and waits for all.
func inParallel(runs []*regionRun, fn func(*regionRun)) {
	var wg sync.WaitGroup
	for _, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(r)
			r.out.flush()
		}()
	}
	wg.Wait()
}

// checkBinaries finds the suite's binaries the release runs: diagnose for
// the gates, migrate for --migrate (exit 2 before anything when missing).
func (o *UpdateOptions) checkBinaries() error {
	subs := []string{diagnoseSub}
	if o.Migrate.On {
		subs = append(subs, migrateSub)
	}
	for _, sub := range subs {
		find := findDiagnose
		if sub == migrateSub {
			find = findMigrate
		}
		if _, ok := find(); !ok {
			bin := suite.Binary(sub)
			return cli.Usagef("--fleet runs %s, which is not installed: no %s beside %s or on PATH; nothing was changed", bin, bin, suite.SelfDir()).
				WithHint("%s", suite.InstallHint)
		}
	}
	return nil
}
