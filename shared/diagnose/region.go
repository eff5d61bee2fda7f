package diagnose

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/fleet"
	"github.com/piyasa/kubectl-piyasa/shared/redact"
	"github.com/piyasa/kubectl-piyasa/shared/replication"
)

// Region is what `diagnose --fleet` compares across the regions of a fleet,
// read by each cluster's own run from what it read anyway.
type Region struct {
	// WorkersDesired and WorkersRunning are the worker StatefulSet's
	// replicas and its pods running (0 and 0 when there is none).
	WorkersDesired int32 `json:"workersDesired"`
	WorkersRunning int   `json:"workersRunning"`
	// TotalWorkers is TOTAL_WORKERS of the app's ConfigMap ("" when unset).
	TotalWorkers string `json:"totalWorkers,omitempty"`
	// Database is the database's role read by the replication probe
	// (--probe): replication.RolePrimary (writable) or RoleStandby; "" when
	// not read.
	Database string `json:"database,omitempty"`
}

// region fills the Region of the report from the snapshot.
func (r *runner) region() *Region {
	g := &Region{TotalWorkers: r.appConfig()[app.KeyTotalWorkers], Database: r.database}
	if w, ok := r.component(app.Worker); ok {
		g.WorkersDesired = w.Replicas
	}
	g.WorkersRunning = len(r.runningPods(app.Worker))
	return g
}

// The codes of the checks across the regions of a fleet (diagnose --fleet).
const (
	CodeFleetWorkers      = "PIY990"
	CodeFleetSplitBrain   = "PIY991"
	CodeFleetTotalWorkers = "PIY992"
)

// FleetFinding is a finding about the fleet as a whole (diagnose --fleet),
// in the List's findings.
type FleetFinding struct {
	Code     string `json:"code"`
	Severity string `json:"severity"`
	Title    string `json:"title"`
	Message  string `json:"message"`
	// Regions are the regions it concerns.
	Regions []string `json:"regions"`
	Fix     string   `json:"fix"`
}

// printFleetFindings prints the findings about the fleet under the table of the clusters.
func printFleetFindings(out io.Writer, findings []FleetFinding) {
	fmt.Fprintln(out, "\nacross the regions:")
	for _, f := range findings {
		fmt.Fprintf(out, "%s %s: %s\n  fix: %s\n", f.Code, strings.ToUpper(f.Severity), redact.Line(f.Message), f.Fix)
	}
}

// RegionOf is one region's name and its Region (nil when its run failed).
type RegionOf struct {
	Name, Role string
	Region     *Region
}

// FleetFindings compares the regions of a fleet: workers running in more
// than one region (PIY990: two workers would own the same shard), more than
// one writable database (PIY991, split brain; read only with --probe), and
// TOTAL_WORKERS differing between regions (PIY992: a failover would shard
// the work differently). cfg selects the codes as --only/--skip do.
func FleetFindings(regions []RegionOf, cfg Config) []FleetFinding {
	var out []FleetFinding
	add := func(code, msg string, names []string) {
		c := codeIndex[code]
		if !cfg.selects(c) {
			return
		}
		out = append(out, FleetFinding{Code: code, Severity: string(c.Severity), Title: c.Title, Message: msg, Regions: names, Fix: c.Fix})
	}
	var workers, writable, names []string
	totals := map[string][]string{}
	for _, g := range regions {
		if g.Region == nil {
			continue
		}
		if g.Region.WorkersRunning > 0 || g.Region.WorkersDesired > 0 {
			workers = append(workers, fmt.Sprintf("%s (%d running of %d)", g.Name, g.Region.WorkersRunning, g.Region.WorkersDesired))
			names = append(names, g.Name)
		}
		if g.Region.Database == replication.RolePrimary {
			writable = append(writable, g.Name)
		}
		// A region with its workers stopped (scale worker 0 sets TOTAL_WORKERS
		// to 0, as a standby's) shards nothing: it is not compared.
		if t := g.Region.TotalWorkers; t != "" && t != "0" {
			totals[t] = append(totals[t], g.Name)
		}
	}
	if len(workers) > 1 {
		add(CodeFleetWorkers, "workers run in more than one region: "+strings.Join(workers, ", ")+"; two workers own the same shard", names)
	}
	if len(writable) > 1 {
		add(CodeFleetSplitBrain, "more than one writable database (split brain): "+strings.Join(writable, ", ")+" are not in recovery", writable)
	}
	if len(totals) > 1 {
		var parts, all []string
		for t, rs := range totals {
			parts = append(parts, fmt.Sprintf("%s in %s", t, strings.Join(rs, ", ")))
			all = append(all, rs...)
		}
		sort.Strings(parts)
		sort.Strings(all)
		add(CodeFleetTotalWorkers, "TOTAL_WORKERS differs between regions: "+strings.Join(parts, "; "), all)
	}
	return out
}

// fleetRegions keeps, for `diagnose --fleet`, each region's run of the
// checks (by its Global) and compares their reports once all have run.
type fleetRegions struct {
	// root is the command's own Options: its --only, --skip, --probe and
	// --fail-on select and judge the checks across regions.
	root *Options
	mu   sync.Mutex
	runs map[*cli.Global]*Options
}

// newCmd is the checks of one region (fleetcmd's newCmd), remembered.
func (f *fleetRegions) newCmd(g *cli.Global) *cobra.Command {
	cmd := &cobra.Command{Use: "diagnose"}
	o := addChecks(cmd, g)
	f.mu.Lock()
	f.runs[g] = o
	f.mu.Unlock()
	return cmd
}

// across runs FleetFindings over the regions of a fleet file (with
// --contexts the roles are unknown: the contexts may be unrelated apps) and
// returns exit 1 when one is at or above --fail-on.
func (f *fleetRegions) across(targets []fleet.Target, globals []*cli.Global) (any, func(io.Writer), int) {
	regions := make([]RegionOf, len(targets))
	for i, t := range targets {
		if t.Role == "" {
			return nil, nil, 0
		}
		regions[i] = RegionOf{Name: t.Region, Role: t.Role}
		f.mu.Lock()
		o := f.runs[globals[i]]
		f.mu.Unlock()
		if o != nil && o.last != nil {
			regions[i].Region = o.last.Region
		}
	}
	findings := FleetFindings(regions, f.root.cfg)
	if len(findings) == 0 {
		return nil, nil, 0
	}
	failOn, code := f.root.cfg.FailOn, 0
	if failOn == "" {
		failOn = SeverityError
	}
	for _, x := range findings {
		if Severity(x.Severity).Rank() >= failOn.Rank() {
			code = cli.ExitFailed
		}
	}
	return findings, func(w io.Writer) { printFleetFindings(w, findings) }, code
}
