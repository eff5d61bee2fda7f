package diagnose

import (
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/table"
)

// JUnit is the -o junit format.
const JUnit = "junit"

// PrintTable prints the findings grouped by component, then the summary line
// and the skipped checks. wide adds the evidence column.
func PrintTable(w io.Writer, r *Report, wide bool) error {
	term := table.DetectTerminal(w)
	fmt.Fprintf(w, "Namespace %s (env %s): %d pods read\n\n", r.Namespace, r.Environment, r.Stats.Pods)
	switch {
	case r.MostlyForbidden():
		fmt.Fprintln(w, term.Red(term.Line(fmt.Sprintf("Most checks could not run: %d of %d were skipped because a kind they read may not be listed (see below).", r.Summary.Forbidden, len(r.Checks)), 2)))
	case len(r.Findings) == 0 && r.Summary.HiddenWarnings+r.Summary.HiddenInfos > 0:
		fmt.Fprintln(w, "No problems at or above --min-severity.")
	case len(r.Findings) == 0:
		fmt.Fprintln(w, "No problems found.")
	}
	if len(r.Findings) > 0 {
		headers := []string{"COMPONENT", "SEVERITY", "CODE", "OBJECT", "MESSAGE", "FIX"}
		if wide {
			headers = append(headers, "EVIDENCE")
		}
		t := output.NewTable(w, headers...).Severity("SEVERITY")
		if !wide {
			// On a narrow terminal the message and the fix go under the
			// finding's row; -o wide keeps one row per finding.
			t.Long("MESSAGE", "FIX")
		}
		prev := ""
		for _, f := range r.Findings {
			comp := f.Component
			if comp == prev {
				comp = ""
			} else {
				prev = comp
			}
			row := []string{comp, strings.ToUpper(string(f.Severity)), f.Code, f.Object.String(), oneLine(f.Message), oneLine(f.Fix)}
			if wide {
				row = append(row, oneLine(strings.Join(f.Evidence, " | ")))
			}
			t.Append(row...)
		}
		if err := t.Render(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, term.Bold(term.Line(r.SummaryLine(), 2)))
	skipped := map[string][]string{}
	for _, c := range r.Checks {
		if c.Status == StatusSkipped {
			skipped[c.Reason] = append(skipped[c.Reason], c.Code)
		}
	}
	reasons := make([]string, 0, len(skipped))
	for k := range skipped {
		reasons = append(reasons, k)
	}
	sort.Strings(reasons)
	for _, reason := range reasons {
		fmt.Fprintln(w, term.Line(fmt.Sprintf("skipped: %s (%s)", strings.Join(skipped[reason], ", "), reason), 2))
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, term.Line("note: "+n, 2))
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Skipped  int          `xml:"skipped,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Skipped  int         `xml:"skipped,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`

	took time.Duration
}

type junitCase struct {
	ClassName string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

// PrintJUnit prints one test case per check, grouped in suites by area. A
// check fails when it has a finding at or above the report's --fail-on;
// findings below it go to system-out.
func PrintJUnit(w io.Writer, r *Report) error {
	byCode := map[string][]Finding{}
	for _, f := range r.Findings {
		byCode[f.Code] = append(byCode[f.Code], f)
	}
	suites := map[Area]*junitSuite{}
	var order []Area
	all := junitSuites{Name: "kubectl piyasa diagnose " + r.Namespace}
	for _, c := range r.Checks {
		s := suites[c.Area]
		if s == nil {
			s = &junitSuite{Name: "piyasa.diagnose." + string(c.Area)}
			suites[c.Area] = s
			order = append(order, c.Area)
		}
		tc := junitCase{ClassName: "piyasa.diagnose." + string(c.Area), Name: c.Code + " " + c.Title, Time: seconds(c.took)}
		s.took += c.took
		var fail, info []string
		worst := Severity("")
		for _, f := range byCode[c.Code] {
			line := fmt.Sprintf("%s %s: %s (fix: %s)", strings.ToUpper(string(f.Severity)), f.Object, f.Message, f.Fix)
			if f.Severity.Rank() >= r.FailOn.Rank() {
				fail = append(fail, line)
				if f.Severity.Rank() > worst.Rank() {
					worst = f.Severity
				}
			} else {
				info = append(info, line)
			}
		}
		switch {
		case c.Status == StatusSkipped:
			tc.Skipped = &junitSkipped{Message: c.Reason}
			s.Skipped++
			all.Skipped++
		case len(fail) > 0:
			tc.Failure = &junitFailure{Message: fmt.Sprintf("%d finding(s)", len(fail)), Type: string(worst), Text: strings.Join(fail, "\n")}
			s.Failures++
			all.Failures++
		}
		tc.SystemOut = strings.Join(info, "\n")
		s.Cases = append(s.Cases, tc)
		s.Tests++
		all.Tests++
	}
	for _, a := range order {
		suites[a].Time = seconds(suites[a].took)
		all.Suites = append(all.Suites, *suites[a])
	}
	all.Time = fmt.Sprintf("%.3f", r.Stats.DurationSeconds)
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(all); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

// seconds formats a duration as JUnit's time attribute (seconds, 3 decimals).
func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
