package diagnose

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/exit"
)

// Object names the object a finding is about.
type Object struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

func (o Object) String() string {
	if o.Kind == "" {
		return o.Name
	}
	return strings.ToLower(o.Kind) + "/" + o.Name
}

// Finding is one problem found.
type Finding struct {
	Code     string   `json:"code"`
	Severity Severity `json:"severity"`
	Title    string   `json:"title"`
	// Component is api, worker, frontend, postgres, redis, app (namespace-wide) or cluster.
	Component string `json:"component"`
	Object    Object `json:"object"`
	// Message says what is wrong in one line.
	Message string `json:"message"`
	// Evidence holds what was seen: status, event, log line, value (never a secret value).
	Evidence []string `json:"evidence,omitempty"`
	// Fix names the command to run.
	Fix string `json:"fix"`
}

// Check status values.
const (
	StatusPassed  = "passed"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
)

// CheckResult is the outcome of one code's check.
type CheckResult struct {
	Code     string   `json:"code"`
	Title    string   `json:"title"`
	Area     Area     `json:"area"`
	Severity Severity `json:"severity"`
	// Status is passed, failed or skipped.
	Status string `json:"status"`
	// Reason says why a check was skipped, e.g. "forbidden: list secrets".
	Reason   string `json:"reason,omitempty"`
	Findings int    `json:"findings"`

	// took is the time the check took (JUnit's time attribute).
	took time.Duration
}

// Summary counts the findings and checks.
type Summary struct {
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	Infos    int `json:"infos"`
	Passed   int `json:"passed"`
	Failed   int `json:"failed"`
	Skipped  int `json:"skipped"`
	// Forbidden counts the skipped checks that needed a kind the user may not list.
	Forbidden int `json:"forbidden,omitempty"`
	// HiddenWarnings and HiddenInfos count the findings --min-severity left out.
	HiddenWarnings int `json:"hiddenWarnings,omitempty"`
	HiddenInfos    int `json:"hiddenInfos,omitempty"`
	// Score is 100 when every check that ran passed; see Score.
	Score int `json:"score"`
}

// Stats says what the run cost.
type Stats struct {
	DurationSeconds float64       `json:"durationSeconds"`
	Pods            int           `json:"pods"`
	Requests        RequestCounts `json:"requests"`
}

// Report is the document of `diagnose -o json|yaml` (kind DiagnoseReport).
type Report struct {
	Namespace   string    `json:"namespace"`
	Environment string    `json:"environment"`
	GeneratedAt time.Time `json:"generatedAt"`
	// FailOn is the severity at or above which the command exits 1.
	FailOn  Severity      `json:"failOn"`
	Summary Summary       `json:"summary"`
	Checks  []CheckResult `json:"checks"`
	// Findings are sorted by component, then severity, then code.
	Findings []Finding `json:"findings"`
	// Notes say what the report leaves out and why (e.g. log evidence that
	// could not be masked).
	Notes []string `json:"notes,omitempty"`
	Stats Stats    `json:"stats"`
	// Region is what a fleet's checks compare across regions (diagnose --fleet).
	Region *Region `json:"region,omitempty"`
}

// Failing tells whether a finding at or above failOn exists.
func (r *Report) Failing() bool {
	for _, f := range r.Findings {
		if f.Severity.Rank() >= r.FailOn.Rank() {
			return true
		}
	}
	return false
}

// ComponentOrder is the display order of finding components.
var ComponentOrder = []string{"api", "worker", "frontend", "postgres", "redis", "app", "cluster"}

func componentRank(c string) int {
	for i, x := range ComponentOrder {
		if x == c {
			return i
		}
	}
	return len(ComponentOrder)
}

// finish sorts, filters by min severity, counts and scores.
func (r *Report) finish(minSev Severity) {
	sort.SliceStable(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if componentRank(a.Component) != componentRank(b.Component) {
			return componentRank(a.Component) < componentRank(b.Component)
		}
		if a.Severity.Rank() != b.Severity.Rank() {
			return a.Severity.Rank() > b.Severity.Rank()
		}
		if a.Code != b.Code {
			return a.Code < b.Code
		}
		return a.Object.String() < b.Object.String()
	})
	sort.Slice(r.Checks, func(i, j int) bool { return r.Checks[i].Code < r.Checks[j].Code })
	r.Summary = Summary{}
	worst := map[string]Severity{}
	for _, f := range r.Findings {
		if f.Severity.Rank() > worst[f.Code].Rank() {
			worst[f.Code] = f.Severity
		}
	}
	kept := r.Findings[:0]
	for _, f := range r.Findings {
		if f.Severity.Rank() < minSev.Rank() {
			switch f.Severity {
			case SeverityWarning:
				r.Summary.HiddenWarnings++
			case SeverityInfo:
				r.Summary.HiddenInfos++
			}
			continue
		}
		kept = append(kept, f)
		switch f.Severity {
		case SeverityError:
			r.Summary.Errors++
		case SeverityWarning:
			r.Summary.Warnings++
		case SeverityInfo:
			r.Summary.Infos++
		}
	}
	r.Findings = kept
	var earned, total float64
	for _, c := range r.Checks {
		switch c.Status {
		case StatusPassed:
			r.Summary.Passed++
		case StatusFailed:
			r.Summary.Failed++
		case StatusSkipped:
			r.Summary.Skipped++
			if !isForbidden(c) {
				continue
			}
			r.Summary.Forbidden++ // a check that could not read what it needs earns nothing
		}
		w := float64(c.Severity.Rank())
		total += w
		switch {
		case c.Status == StatusPassed:
			earned += w
		case worst[c.Code] == SeverityInfo:
			earned += w
		case worst[c.Code] == SeverityWarning:
			earned += w / 2
		}
	}
	r.Summary.Score = Score(earned, total)
}

// Score is 100 * earned / total, rounded down; every check that ran weighs its
// severity (error 3, warning 2, info 1) and earns it in full when it passed,
// half when its worst finding is a warning, nothing for an error. A check
// skipped because a kind it needs may not be listed weighs too, and earns nothing.
func Score(earned, total float64) int {
	if total == 0 {
		return 100
	}
	return int(math.Floor(100 * earned / total))
}

func isForbidden(c CheckResult) bool {
	return c.Status == StatusSkipped && strings.HasPrefix(c.Reason, forbiddenReason)
}

// forbiddenReason starts the reason of a check skipped for lack of rights.
const forbiddenReason = "forbidden: "

// MostlyForbidden tells whether most checks selected were skipped because a
// kind they need may not be listed: the report then says little.
func (r *Report) MostlyForbidden() bool {
	return r.Summary.Forbidden > 0 && 2*r.Summary.Forbidden > len(r.Checks)
}

// ForbiddenError is the exit-3 error of a run whose checks were mostly
// skipped for lack of rights (nil otherwise). It names what may not be listed.
func (r *Report) ForbiddenError() error {
	if !r.MostlyForbidden() {
		return nil
	}
	seen := map[string]bool{}
	var kinds []string
	for _, c := range r.Checks {
		if isForbidden(c) {
			k := strings.TrimPrefix(strings.TrimPrefix(c.Reason, forbiddenReason), "list ")
			if !seen[k] {
				seen[k] = true
				kinds = append(kinds, k)
			}
		}
	}
	sort.Strings(kinds)
	first := "pods"
	if len(kinds) > 0 {
		first = kinds[0]
	}
	return (&exit.Error{Code: exit.ExitCluster, Msg: fmt.Sprintf("%d of %d checks could not run: you may not list %s in namespace %s (or cluster-wide)",
		r.Summary.Forbidden, len(r.Checks), strings.Join(kinds, ", "), r.Namespace)}).
		WithHint("run diagnose with an account that may read them; check with: kubectl auth can-i list %s -n %s", first, r.Namespace)
}

// SummaryLine is "N errors, M warnings, K checks passed (S skipped), score X/100",
// with the findings that --min-severity hid.
func (r *Report) SummaryLine() string {
	s := fmt.Sprintf("%d errors, %d warnings", r.Summary.Errors, r.Summary.Warnings)
	var hidden []string
	if n := r.Summary.HiddenWarnings; n > 0 {
		hidden = append(hidden, cli.Plural(n, "warning", "warnings"))
	}
	if n := r.Summary.HiddenInfos; n > 0 {
		hidden = append(hidden, cli.Plural(n, "info", "infos"))
	}
	if len(hidden) > 0 {
		s += fmt.Sprintf(" (%s hidden by --min-severity)", strings.Join(hidden, " and "))
	}
	s += fmt.Sprintf(", %d checks passed", r.Summary.Passed)
	if r.Summary.Skipped > 0 {
		s += fmt.Sprintf(" (%d skipped)", r.Summary.Skipped)
	}
	return s + fmt.Sprintf(", score %d/100", r.Summary.Score)
}
