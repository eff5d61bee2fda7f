package top

import (
	"fmt"
	"io"
	"strings"

	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// renderTop prints the three tables of `diagnose top` (components, pods,
// nodes), then the reason of every missing figure, grouped by reason.
func renderTop(w io.Writer, top Report, wide bool) error {
	var notes []string
	byReason := map[string][]string{}
	note := func(reasons []string, what string) {
		for _, r := range reasons {
			if _, ok := byReason[r]; !ok {
				notes = append(notes, r)
			}
			byReason[r] = append(byReason[r], what)
		}
	}

	t := output.NewTable(w, "COMPONENT", "PODS", "CPU", "CPU REQ/LIM", "CPU %LIM", "MEMORY", "MEM REQ/LIM", "MEM %LIM")
	term := t.Terminal()
	for _, c := range top.Components {
		t.Append(c.Component, fmt.Sprint(c.Pods), usageCell(c.CPU.Usage), reqLim(c.CPU), pctOfLimit(c.CPU),
			usageCell(c.Memory.Usage), reqLim(c.Memory), pctOfLimit(c.Memory))
		note(c.CPU.reasons, c.Component+" cpu")
		note(c.Memory.reasons, c.Component+" memory")
	}
	if err := t.Render(); err != nil {
		return err
	}

	if len(top.Pods) > 0 {
		fmt.Fprintln(w)
		headers := []string{"POD", "COMPONENT", "CPU", "CPU REQ/LIM", "CPU %LIM", "MEMORY", "MEM REQ/LIM", "MEM %LIM"}
		if wide {
			headers = append(headers, "PHASE", "NODE")
		}
		t = output.NewTable(w, headers...)
		for _, p := range top.Pods {
			row := []string{p.Pod, p.Component, usageCell(p.CPU.Usage), reqLim(p.CPU), pctOfLimit(p.CPU),
				usageCell(p.Memory.Usage), reqLim(p.Memory), pctOfLimit(p.Memory)}
			if wide {
				row = append(row, p.Phase, orDash(p.Node))
			}
			t.Append(row...)
			note(p.CPU.reasons, p.Pod+" cpu")
			note(p.Memory.reasons, p.Pod+" memory")
		}
		if err := t.Render(); err != nil {
			return err
		}
	}

	if len(top.Nodes) > 0 {
		fmt.Fprintln(w)
		headers := []string{"NODE", "CPU", "CPU%", "MEMORY", "MEMORY%", "APP PODS", "APP CPU", "APP MEMORY"}
		if wide {
			headers = append(headers, "CPU ALLOCATABLE", "MEMORY ALLOCATABLE")
		}
		t = output.NewTable(w, headers...)
		for _, n := range top.Nodes {
			row := []string{n.Node, usageCell(n.CPU.Usage), pct(n.CPU.Percent, n.CPU.Usage), usageCell(n.Memory.Usage), pct(n.Memory.Percent, n.Memory.Usage),
				fmt.Sprint(n.AppPods), usageCell(n.CPU.App), usageCell(n.Memory.App)}
			if wide {
				row = append(row, orDash(n.CPU.Allocatable), orDash(n.Memory.Allocatable))
			}
			t.Append(row...)
			note(n.CPU.reasons, "node "+n.Node+" cpu")
			note(n.Memory.reasons, "node "+n.Node+" memory")
		}
		if err := t.Render(); err != nil {
			return err
		}
	}

	if len(notes) > 0 {
		fmt.Fprintln(w)
	}
	for _, r := range notes {
		fmt.Fprintln(w, term.Line(fmt.Sprintf("<unknown> %s: %s", listNamesN(byReason[r], 6), r), 2))
	}
	return nil
}

func usageCell(u string) string {
	if u == "" {
		return "<unknown>"
	}
	return u
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// reqLim is "request/limit", "-" for one that is not set.
func reqLim(f Figures) string { return orDash(f.Request) + "/" + orDash(f.Limit) }

// pctOfLimit is the usage in percent of the limit: "-" without a limit,
// <unknown> without usage.
func pctOfLimit(f Figures) string {
	switch {
	case f.PercentOfLimit != nil:
		return fmt.Sprintf("%d%%", *f.PercentOfLimit)
	case f.Limit == "":
		return "-"
	}
	return "<unknown>"
}

func pct(p *int32, usage string) string {
	if p != nil {
		return fmt.Sprintf("%d%%", *p)
	}
	if usage == "" {
		return "<unknown>"
	}
	return "-"
}

func listNamesN(names []string, n int) string {
	if len(names) > n {
		return strings.Join(names[:n], ", ") + fmt.Sprintf(" and %d more", len(names)-n)
	}
	return strings.Join(names, ", ")
}
