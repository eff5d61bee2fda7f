package scale

import (
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// renderTable prints the status as a kubectl-style table followed by the
// reasons for <unknown> figures and the problems found.
func renderTable(w io.Writer, st Status, wide bool, now time.Time) error {
	headers := []string{"COMPONENT", "WORKLOAD", "READY", "HPA", "CPU", "MEMORY", "LAST SCALE"}
	if wide {
		headers = []string{"COMPONENT", "WORKLOAD", "READY", "UPDATED", "PODS", "HPA", "CPU", "CPU USE/REQ", "MEMORY", "MEMORY USE/REQ", "TOTAL_WORKERS", "LAST SCALE"}
	}
	t := output.NewTable(w, headers...)
	if !wide {
		t.Long("LAST SCALE") // under its row on a narrow terminal; -o wide keeps one row per object
	}
	term := t.Terminal()
	compact := term.Width > 0 && !wide // on a terminal the WORKLOAD column is the name alone
	type note struct {
		what  []string
		order int
	}
	notes := map[string]*note{}
	var order []string
	addNote := func(reason, what string) {
		if reason == "" {
			return
		}
		n, ok := notes[reason]
		if !ok {
			n = &note{}
			notes[reason] = n
			order = append(order, reason)
		}
		n.what = append(n.what, what)
	}
	for _, c := range st.Components {
		ready, hpa, last := "-", "-", "-"
		workload := lower(c.Kind) + "/" + c.Workload
		if compact {
			workload = c.Workload
		}
		if c.Found {
			ready = fmt.Sprintf("%d/%d", c.Ready, c.Desired)
		} else {
			ready = "not found"
		}
		if c.HPA != nil {
			hpa = fmt.Sprintf("%d-%d", c.HPA.MinReplicas, c.HPA.MaxReplicas)
		}
		if c.LastScale != nil {
			last = fmt.Sprintf("%s ago %s: %s", duration.HumanDuration(now.Sub(c.LastScale.Time.Time)), c.LastScale.Reason, c.LastScale.Message)
		}
		if c.Found {
			addNote(c.CPU.Unknown, c.Component+" cpu")
			addNote(c.Memory.Unknown, c.Component+" memory")
		}
		if !wide {
			t.Append(c.Component, workload, ready, hpa, figure(c.CPU), figure(c.Memory), last)
			continue
		}
		total := "-"
		if c.TotalWorkers != nil {
			total = fmt.Sprint(*c.TotalWorkers)
		}
		t.Append(c.Component, workload, ready, fmt.Sprint(c.Updated), fmt.Sprint(c.Current), hpa,
			figure(c.CPU), useReq(c.CPU), figure(c.Memory), useReq(c.Memory), total, last)
	}
	if err := t.Render(); err != nil {
		return err
	}
	for _, r := range order {
		fmt.Fprintln(w, term.Line(fmt.Sprintf("<unknown> %s: %s", strings.Join(notes[r].what, ", "), r), 2))
	}
	for _, p := range st.Problems {
		fmt.Fprintln(w, term.Line(term.Red("problem:")+" "+p, 2))
	}
	return nil
}

// figure is "now/target" in percent of requests, as kubectl get hpa shows it.
func figure(r ResourceStatus) string {
	now := "<unknown>"
	if r.Utilization != nil {
		now = fmt.Sprintf("%d%%", *r.Utilization)
	}
	if r.Target != nil {
		return fmt.Sprintf("%s/%d%%", now, *r.Target)
	}
	return now
}

func useReq(r ResourceStatus) string {
	u, q := r.Usage, r.Request
	if u == "" {
		u = "?"
	}
	if q == "" {
		q = "?"
	}
	return u + "/" + q
}
