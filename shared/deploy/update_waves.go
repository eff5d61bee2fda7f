package deploy

import (
	"context"
	"fmt"
	"sync"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/fleet"
	"github.com/piyasa/kubectl-piyasa/shared/migrate/migraterun"
)

// release is one run of `deploy update --fleet`: the regions by wave and
// the document that says what happened in each.
type release struct {
	o     *UpdateOptions
	doc   *Release
	waves [][]*regionRun
	all   []*regionRun
	// migration is the migration's error (nil: it succeeded or did not run).
	migration *cli.Error
}

// newRelease plans the release: the regions by wave, each with its own update.
func (o *UpdateOptions) newRelease() *release {
	plan := planWaves(o.Fleet.fleet)
	doc := &Release{Fleet: o.Fleet.File, Image: o.apiRef, FrontendImage: o.feRef, GateOn: o.Fleet.GateOn,
		DryRun: o.DryRun.Client(), Waves: len(plan)}
	n := 0
	for _, w := range plan {
		n += len(w)
	}
	doc.Regions = make([]RegionRelease, n)
	rel := &release{o: o, doc: doc}
	mu := &sync.Mutex{}
	i := 0
	for _, w := range plan {
		var runs []*regionRun
		for _, r := range w {
			run := o.newRegionRun(r, &doc.Regions[i], mu)
			runs = append(runs, run)
			rel.all = append(rel.all, run)
			i++
		}
		rel.waves = append(rel.waves, runs)
	}
	if o.Migrate.On {
		p := o.Fleet.fleet.Primary()
		doc.Migration = &ReleaseMigration{Region: p.Name, Context: p.Context, State: "notRun"}
	}
	return rel
}

// runFleet is `deploy update --fleet`: read every region (nothing changes
// when one cannot be read), migrate once in the primary region (--migrate),
// then wave by wave: update the wave's regions at once, wait for their
// rollouts, run diagnose in each as the gate, and on a failure roll the whole
// wave back and leave the later waves untouched. --dry-run=client prints the
// plan. The table or document says per region what happened.
func (o *UpdateOptions) runFleet(ctx context.Context) error {
	if err := o.checkBinaries(); err != nil {
		return err
	}
	rel := o.newRelease()
	rel.step(ctx, rel.read)
	if rel.doc.worst(0) == cli.ExitOK {
		switch {
		case rel.doc.DryRun:
			rel.plan()
		case rel.migrate(ctx):
			rel.runWaves(ctx)
		}
	} else {
		rel.notTouched(rel.all, "another region could not be read, so nothing was changed")
	}
	err := rel.doc.stopError(rel.migration)
	if rel.o.Migrate.done != nil && err != nil {
		err = o.Migrate.explainRollback(rel.primary().o.Global, err)
	}
	if perr := rel.print(); perr != nil {
		return perr
	}
	return err
}

// step runs fn in every region at once.
func (rel *release) step(ctx context.Context, fn func(context.Context, *regionRun)) {
	inParallel(rel.all, func(r *regionRun) { fn(ctx, r) })
}

// read is the first step of a region: its workloads, images and rights.
func (rel *release) read(ctx context.Context, r *regionRun) {
	r.read(ctx, rel.o.Fleet.Timeout)
}

// plan marks every region planned (a dry run) and the migration's place.
func (rel *release) plan() {
	for _, r := range rel.all {
		r.rel.State = StatePlanned
		r.rel.Reason = fmt.Sprintf("wave %d of %d", r.rel.Wave, rel.doc.Waves)
	}
	if m := rel.doc.Migration; m != nil {
		m.State, m.Reason = StatePlanned, "migrate up to head in the new api image, before wave 1"
	}
}

// primary is the run of the primary region.
func (rel *release) primary() *regionRun {
	for _, r := range rel.all {
		if r.region.Role == fleet.RolePrimary {
			return r
		}
	}
	return rel.all[0]
}

// migrate runs the migration once, in the primary region, before any wave
// (--migrate); false when it did not succeed (nothing was updated then).
func (rel *release) migrate(ctx context.Context) bool {
	m := rel.doc.Migration
	if m == nil {
		return true
	}
	p := rel.primary()
	rel.o.Migrate.context = p.region.Context
	rel.o.Infof("Migration in the primary region %s (context %s), before wave 1\n", p.region.Name, p.region.Context)
	err := rel.o.Migrate.run(ctx, p.o.Global, rel.o.apiRef, false)
	p.out.flush()
	if err != nil {
		rel.migration = p.outcome(err)
		m.State, m.Reason = StateFailed, "nothing was updated"
		switch rel.migration.Code {
		case cli.ExitInterrupted:
			m.State = StateInterrupted
		case cli.ExitCluster:
			m.State = StateUnreachable
		}
		rel.notTouched(rel.all, "the migration did not succeed")
		return false
	}
	m.State = migraterun.StateUpToDate
	if d := rel.o.Migrate.done; d != nil {
		m.State, m.Job = "applied", d.Job
	}
	return true
}

// runWaves releases wave by wave and stops at the first wave that fails or
// at an interruption; the later waves are not touched.
func (rel *release) runWaves(ctx context.Context) {
	for i, wave := range rel.waves {
		n := wave[0].rel.Wave // the wave's number in the fleet file
		if ctx.Err() != nil {
			rel.notTouched(rel.later(i), fmt.Sprintf("interrupted before wave %d", n))
			return
		}
		rel.o.Infof("Wave %d (%d of %d): %s\n", n, i+1, len(rel.waves), regionNames(wave))
		failed := rel.runWave(ctx, wave)
		switch {
		case ctx.Err() != nil && i+1 < len(rel.waves):
			rel.notTouched(rel.later(i+1), fmt.Sprintf("interrupted before wave %d", rel.waves[i+1][0].rel.Wave))
			return
		case failed != "":
			rel.notTouched(rel.later(i+1), fmt.Sprintf("wave %d failed in region %s", n, failed))
			return
		}
	}
}

// runWave updates the regions of one wave at once, gates them, and rolls
// the wave back when one of them failed. It returns "" when the wave passed,
// else the region that failed it.
func (rel *release) runWave(ctx context.Context, wave []*regionRun) string {
	inParallel(wave, func(r *regionRun) { r.update(ctx) })
	if ctx.Err() == nil {
		inParallel(wave, func(r *regionRun) { r.gate(ctx, rel.o.Fleet.GateOn, gateFlags(&rel.o.Fleet)) })
	}
	failed := ""
	for _, r := range wave {
		if r.rel.State != StateUpdated && failed == "" {
			failed = r.region.Name
		}
	}
	switch {
	case ctx.Err() != nil:
		for _, r := range wave {
			if r.rel.State == StateUpdated && r.rel.Gate == nil {
				r.rel.State, r.rel.ExitCode = StateInterrupted, cli.ExitInterrupted
				r.rel.Reason = "interrupted before the gate: the new images are set and roll out; diagnose did not run"
			}
		}
		return "interrupted"
	case failed == "":
		return ""
	}
	// A failed wave is rolled back in all its regions.
	inParallel(wave, func(r *regionRun) {
		if r.set {
			why := r.gateErr
			if why == nil {
				why = gateFailure(failed)
			}
			r.rollBack(ctx, why)
		}
	})
	return failed
}

// gate runs diagnose in the region once its rollout succeeded; a failed
// gate leaves the new images set until the wave is rolled back.
func (r *regionRun) gate(ctx context.Context, gateOn string, flags []string) {
	if r.rel.State != StateUpdated {
		return
	}
	res, err := gate(ctx, r.o.Global, r.region.Context, flags, gateOn)
	r.rel.Gate = res
	if err != nil {
		r.gateErr = err
		r.rel.setOutcome(r.outcome(err), StateFailed)
	}
}

// later returns the regions of the waves from the i-th on.
func (rel *release) later(i int) []*regionRun {
	var out []*regionRun
	for _, w := range rel.waves[min(i, len(rel.waves)):] {
		out = append(out, w...)
	}
	return out
}

// notTouched marks runs not touched, with why.
func (rel *release) notTouched(runs []*regionRun, why string) {
	for _, r := range runs {
		if r.rel.State == StateNotTouched && r.rel.ExitCode == cli.ExitOK {
			r.rel.Reason = why
		}
	}
}

// print prints the release: the table, or the FleetRelease document.
func (rel *release) print() error {
	p := rel.o.Fleet.Print
	if p.Structured() {
		return p.PrintDocument(rel.o.Out, ReleaseKind, rel.doc)
	}
	return printRelease(rel.o.Out, rel.doc)
}

func regionNames(runs []*regionRun) string {
	s := ""
	for i, r := range runs {
		if i > 0 {
			s += ", "
		}
		s += r.region.Name + " (" + r.region.Context + ")"
	}
	return s
}
