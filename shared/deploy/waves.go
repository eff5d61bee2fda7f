package deploy

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/fleet"
	"github.com/piyasa/kubectl-piyasa/shared/redact"
	"github.com/piyasa/kubectl-piyasa/shared/table"
)

// ReleaseKind is the kind of the -o json|yaml document of `deploy update --fleet`.
const ReleaseKind = "FleetRelease"

// The states of a region in a release (RegionRelease.State).
const (
	// StatePlanned: a dry run; nothing was changed.
	StatePlanned = "planned"
	// StateUpdated: the new images rolled out and diagnose passed.
	StateUpdated = "updated"
	// StateRolledBack: the rollout or the gate failed (in this region or in
	// another of its wave), and the old images were put back.
	StateRolledBack = "rolledBack"
	// StateFailed: the update could not be made and nothing was changed, or
	// the rollback failed (the reason says which).
	StateFailed = "failed"
	// StateNotTouched: the release stopped before this region (the reason says why).
	StateNotTouched = "notTouched"
	// StateUnreachable: the cluster could not be reached (or refused a right).
	StateUnreachable = "unreachable"
	// StateInterrupted: Ctrl-C or SIGTERM; the reason says what is left.
	StateInterrupted = "interrupted"
)

// Release is the -o json|yaml document of `deploy update --fleet` (kind
// FleetRelease): per region what happened, in the order of the waves.
type Release struct {
	// Fleet is the fleet file.
	Fleet string `json:"fleet"`
	// Image and FrontendImage are the images released ("" when not given).
	Image         string `json:"image,omitempty"`
	FrontendImage string `json:"frontendImage,omitempty"`
	// GateOn is the severity of a diagnose finding that fails a wave: error or warning.
	GateOn string `json:"gateOn"`
	// DryRun is true for --dry-run=client: the plan, nothing changed.
	DryRun bool `json:"dryRun,omitempty"`
	// Waves is the number of waves.
	Waves int `json:"waves"`
	// Migration is where --migrate ran (absent without --migrate).
	Migration *ReleaseMigration `json:"migration,omitempty"`
	// Regions in the order of the waves (the file's order within a wave).
	Regions []RegionRelease `json:"regions"`
	// ExitCode is the command's exit code.
	ExitCode int `json:"exitCode"`
}

// ReleaseMigration is the migration of a release: once, in the primary
// region, before the first wave.
type ReleaseMigration struct {
	Region  string `json:"region"`
	Context string `json:"context"`
	// State is planned, applied, upToDate (nothing to migrate), failed,
	// unreachable, interrupted or notRun.
	State string `json:"state"`
	// Job is the migration Job (when one ran).
	Job    string `json:"job,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// RegionRelease is what a release did in one region.
type RegionRelease struct {
	Region    string `json:"region"`
	Context   string `json:"context"`
	Role      string `json:"role"`
	Namespace string `json:"namespace"`
	Wave      int    `json:"wave"`
	// State is one of planned, updated, rolledBack, failed, notTouched,
	// unreachable, interrupted.
	State string `json:"state"`
	// Reason says why (masked), for every state but updated and planned.
	Reason string `json:"reason,omitempty"`
	// Images are the workloads' images before and the release's.
	Images []ImageChange `json:"images,omitempty"`
	// Gate is diagnose's verdict after the wave's rollout (when it ran).
	Gate *GateResult `json:"gate,omitempty"`
	// ExitCode is the region's own: 0 updated (or planned, or not touched),
	// 1 rolled back or failed, 3 unreachable, 130 interrupted.
	ExitCode int `json:"exitCode"`
}

// ImageChange is one workload's image before and after the release.
type ImageChange struct {
	Component string `json:"component"`
	Workload  string `json:"workload"`
	From      string `json:"from"`
	To        string `json:"to"`
}

// GateResult is diagnose's verdict in a region.
type GateResult struct {
	Passed   bool `json:"passed"`
	Errors   int  `json:"errors"`
	Warnings int  `json:"warnings"`
	// Codes are the codes of the findings that failed the gate.
	Codes []string `json:"codes,omitempty"`
}

// planWaves orders the fleet's regions for a release: by wave, 1 first, and
// in the file's order within a wave. It returns the regions of each wave.
func planWaves(f *fleet.Fleet) [][]fleet.Region {
	var numbers []int
	byWave := map[int][]fleet.Region{}
	for _, r := range f.Regions {
		if byWave[r.Wave] == nil {
			numbers = append(numbers, r.Wave)
		}
		byWave[r.Wave] = append(byWave[r.Wave], r)
	}
	slices.Sort(numbers)
	waves := make([][]fleet.Region, 0, len(numbers))
	for _, n := range numbers {
		waves = append(waves, byWave[n])
	}
	return waves
}

// setOutcome records the error err of a region's step (nil: state stays)
// as its state, reason and exit code; failedState is the state of an exit-1
// error (rolledBack or failed).
func (r *RegionRelease) setOutcome(e *cli.Error, failedState string) {
	if e == nil {
		return
	}
	r.ExitCode = e.Code
	r.Reason = redact.Line(e.Msg)
	switch e.Code {
	case cli.ExitInterrupted:
		r.State = StateInterrupted
	case cli.ExitCluster:
		r.State = StateUnreachable
	default:
		r.State = failedState
	}
}

// worst is the release's exit code: the worst of its regions' and the migration's.
func (rel *Release) worst(migration int) int {
	code := migration
	for _, r := range rel.Regions {
		code = max(code, r.ExitCode)
	}
	return code
}

// stateText is a state as the table shows it.
func stateText(s string) string {
	switch s {
	case StateRolledBack:
		return "rolled back"
	case StateNotTouched:
		return "not touched"
	}
	return s
}

// printRelease prints the release as a table: the migration's line, then a
// row per region (WAVE REGION CONTEXT ROLE STATE IMAGE REASON). On a
// terminal the images are their tags; piped, the full references.
func printRelease(w io.Writer, rel *Release) error {
	term := table.DetectTerminal(w)
	if m := rel.Migration; m != nil {
		line := fmt.Sprintf("migration: %s in region %s (context %s)", m.State, m.Region, m.Context)
		if m.Job != "" {
			line += ", Job " + m.Job
		}
		if m.Reason != "" {
			line += ": " + m.Reason
		}
		fmt.Fprintln(w, line)
	}
	t := table.New(w, "WAVE", "REGION", "CONTEXT", "ROLE", "STATE", "IMAGE", "REASON").SetTerminal(term).Long("REASON")
	for _, r := range rel.Regions {
		t.Append(strconv.Itoa(r.Wave), r.Region, r.Context, r.Role, stateText(r.State), imageText(r, term.Width > 0), dash(r.Reason))
	}
	return t.Render()
}

// imageText is the IMAGE cell of a region: its first workload's image
// before -> the release's ("-" when unknown).
func imageText(r RegionRelease, short bool) string {
	if len(r.Images) == 0 {
		return "-"
	}
	from, to := r.Images[0].From, r.Images[0].To
	if short {
		from, to = table.ShortImage(from), table.ShortImage(to)
	}
	if from == to {
		return to
	}
	return from + " -> " + to
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// stopError is the command's error after the table: nil when every region
// was updated (or planned), else the worst exit code with the regions that
// were not.
func (rel *Release) stopError(migration *cli.Error) error {
	code := 0
	if migration != nil {
		code = migration.Code
	}
	code = rel.worst(code)
	rel.ExitCode = code
	if code == cli.ExitOK {
		return nil
	}
	var bad []string
	for _, r := range rel.Regions {
		if r.State != StateUpdated && r.State != StateNotTouched {
			bad = append(bad, r.Region+" "+stateText(r.State))
		}
	}
	msg := "the release stopped"
	if migration != nil {
		msg += ": the migration did not succeed (" + redact.Line(migration.Msg) + ")"
	}
	if len(bad) > 0 {
		msg += ": " + strings.Join(bad, ", ")
	}
	return &cli.Error{Code: code, Msg: msg, Hint: "see the table above for each region; the regions not touched still run their old images"}
}
