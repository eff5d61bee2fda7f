// Package recovery computes the recovery window of continuous archiving: from
// the WAL files present (in the postgres pod's archive, off the cluster, or
// both) and the newest base backup, whether the chain is whole, where its
// gaps are and which span a point-in-time restore can reach. It is pure (no
// I/O, nothing from Kubernetes), so that `backup status`, `deploy status` and
// `diagnose` share one reading of the archive at almost no cost in size.
package recovery

import (
	"fmt"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/walarchive"
)

// Seen is the WAL files present somewhere (pod archive or target) and when
// each was archived (or, when only the target has it, synced).
type Seen map[string]time.Time

// Add records name at t, keeping the earliest time seen.
func (w Seen) Add(name string, t time.Time) {
	if old, ok := w[name]; !ok || t.Before(old) {
		w[name] = t
	}
}

// Names are the file names present, in no order.
func (w Seen) Names() []string {
	out := make([]string, 0, len(w))
	for n := range w {
		out = append(out, n)
	}
	return out
}

// OldestSegment is the oldest segment present ("" if none).
func (w Seen) OldestSegment() string {
	oldest := ""
	for n := range w {
		if walarchive.IsSegmentName(n) && (oldest == "" || n < oldest) {
			oldest = n
		}
	}
	return oldest
}

// Base is what the window needs of a base backup: its name, when it ended
// and the WAL it needs (its start segment and end LSN).
type Base struct {
	Name         string
	EndTime      time.Time
	StartSegment string
	EndLSN       string
}

// Window is the span a point-in-time restore can reach.
type Window struct {
	// From is the first recoverable second: the base backup's end.
	From time.Time `json:"from"`
	// To is the last: when the last segment of the unbroken chain from the
	// base backup was archived (synced, for segments no longer in the pod).
	To time.Time `json:"to"`
	// BaseBackup names the base backup the window starts from.
	BaseBackup string `json:"baseBackup"`
	// LastSegment is the last segment of that chain.
	LastSegment string `json:"lastSegment"`
}

// Gap is a run of missing WAL segments.
type Gap struct {
	// After is the last segment present before it ("" when the chain's
	// first segment itself is missing).
	After string `json:"after,omitempty"`
	// Missing is the first missing segment; Resume the next one present.
	Missing string `json:"missing"`
	Resume  string `json:"resume"`
}

func (g Gap) String() string {
	s := "missing WAL from " + g.Missing + " (next present: " + g.Resume + ")"
	if g.After != "" {
		s += " after " + g.After
	}
	return s
}

// Result is what Check found.
type Result struct {
	// Start is the segment the chain was checked from ("" when nothing was present).
	Start string
	// Gaps are the missing runs from Start to the newest segment present.
	Gaps []Gap
	// Window is nil without a base backup, or when its WAL is not whole.
	Window *Window
	// Problems say, one line each, what is wrong: every gap, and a base
	// backup whose own WAL is missing.
	Problems []string
}

// Check checks the chain from the base backup's start segment or, without a
// base backup, from the oldest segment present, and computes the window.
func Check(seen Seen, base *Base) Result {
	r := Result{Gaps: []Gap{}, Problems: []string{}}
	start := seen.OldestSegment()
	if base != nil && base.StartSegment != "" {
		start = base.StartSegment
	}
	from, err := walarchive.ParseSegment(start)
	if err != nil {
		return r
	}
	r.Start = start
	c := walarchive.CheckChain(from, seen.Names())
	for _, g := range c.Gaps {
		gap := Gap{Missing: g.Missing.Name(), Resume: g.Resume.Name()}
		if !g.After.IsZero() {
			gap.After = g.After.Name()
		}
		r.Gaps = append(r.Gaps, gap)
		r.Problems = append(r.Problems, gap.String())
	}
	if base == nil || base.StartSegment == "" {
		return r
	}
	if !c.Found {
		r.Problems = append(r.Problems, fmt.Sprintf("base backup %s needs WAL from %s, which is missing: it cannot be restored to any point", base.Name, start))
		return r
	}
	if end, err := walarchive.ParseLSN(base.EndLSN); err == nil && c.Last.No() < walarchive.SegmentOf(from.Timeline, end).No() {
		r.Problems = append(r.Problems, fmt.Sprintf("base backup %s needs WAL up to %s; the chain ends at %s", base.Name, base.EndLSN, c.Last.Name()))
		return r
	}
	r.Window = &Window{From: base.EndTime, To: seen[c.Last.Name()], BaseBackup: base.Name, LastSegment: c.Last.Name()}
	return r
}
