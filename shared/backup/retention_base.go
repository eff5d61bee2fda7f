package backup

import (
	"fmt"
	"sort"
	"strings"

	"github.com/piyasa/kubectl-piyasa/shared/walarchive"
)

// The retention of base backups (Format FormatBaseBackup): 7 daily, 4
// weekly, 3 monthly. It is shorter than the dumps' because the WAL from the
// oldest kept base backup on is kept with it (the recovery window reaches
// back that far), and WAL is the bulk of a physical backup's bytes.
const (
	DefaultKeepBaseDaily   = 7
	DefaultKeepBaseWeekly  = 4
	DefaultKeepBaseMonthly = 3
)

// StatusWALMissing is the status of a base backup whose WAL chain (every
// segment from its start segment to the one of its end LSN) is not whole in
// the place's synced WAL: it is never a kept copy of retention, so it never
// pushes out a base backup that can be restored.
const StatusWALMissing = "wal-missing"

// WALPrunePlan is what prune does to the off-cluster WAL of one namespace
// (wal/<ns>/ of a place): the segments before the start of the oldest kept
// base backup go, with their sidecars; history files and everything from
// that start on stay.
type WALPrunePlan struct {
	// KeepFrom is the first segment kept: the oldest kept base backup's
	// start ("" when no WAL is removed).
	KeepFrom string `json:"keepFrom,omitempty"`
	// KeptFor is the base backup whose start KeepFrom is.
	KeptFor string `json:"keptFor,omitempty"`
	// KeptSegments counts the segments that stay.
	KeptSegments int `json:"keptSegments"`
	// RemovedSegments are the segments removed (or to be removed), oldest
	// first, by name (without ".age").
	RemovedSegments []string `json:"removedSegments"`
	// Files are the files behind RemovedSegments: the segments (".age" when
	// encrypted) and their sidecars.
	Files []string `json:"-"`
	// Reason says why the kept WAL is kept, or why none is removed.
	Reason string `json:"reason"`
}

// walBase strips a WAL file's sidecar and age suffixes: the segment or
// history name it belongs to.
func walBase(name string) string {
	return strings.TrimSuffix(strings.TrimSuffix(name, WALSidecarSuffix), AgeSuffix)
}

// syncedWALNames are the segment and history names of a WAL listing that
// count (their sidecar is present), as walarchive.CheckChain reads them.
func syncedWALNames(files []string) []string {
	entries := make([]Entry, len(files))
	for i, f := range files {
		entries[i] = Entry{Name: f}
	}
	var names []string
	for n := range SyncedWAL(entries) {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// BaseChainWhole reports whether the WAL names (segment and history names,
// as walarchive.CheckChain reads them) hold every segment a base backup
// needs to be restored and replayed on: from its start segment to the
// segment of its end LSN, with no gap (the start of the recovery window, as
// backup status reads it).
func BaseChainWhole(info *BackupInfo, names []string) bool {
	if info == nil || info.WAL == nil {
		return false
	}
	from, err := walarchive.ParseSegment(info.WAL.StartSegment)
	if err != nil {
		return false
	}
	c := walarchive.CheckChain(from, names)
	if !c.Found {
		return false
	}
	end, err := walarchive.ParseLSN(info.WAL.EndLSN)
	if err != nil {
		return false
	}
	return c.Last.No() >= walarchive.SegmentOf(from.Timeline, end).No()
}

// PlanWALPrune decides, and is pure, which of the off-cluster WAL files of a
// namespace go: the segments (and their sidecars, ".age" or not) positioned
// before the start segment of the oldest base backup in kept. anyGood says a
// base backup of the namespace has a whole chain: without one, or without
// any kept base backup, or when a kept one does not name its start segment,
// nothing is removed. History files, and files that are no segment, stay.
func PlanWALPrune(kept []*BackupInfo, anyGood bool, files []string) WALPrunePlan {
	plan := WALPrunePlan{RemovedSegments: []string{}}
	segments := map[string]bool{}
	for _, f := range files {
		if b := walBase(f); walarchive.IsSegmentName(b) {
			segments[b] = true
		}
	}
	plan.KeptSegments = len(segments)
	var oldest *BackupInfo
	var cut walarchive.Segment
	for _, b := range kept {
		var s walarchive.Segment
		var err error = fmt.Errorf("no WAL range")
		if b.WAL != nil {
			s, err = walarchive.ParseSegment(b.WAL.StartSegment)
		}
		if err != nil {
			plan.Reason = fmt.Sprintf("kept base backup %s does not name its start segment: no WAL removed", b.Name)
			return plan
		}
		if oldest == nil || s.No() < cut.No() {
			oldest, cut = b, s
		}
	}
	switch {
	case oldest == nil:
		plan.Reason = "no base backup kept: no WAL removed"
		return plan
	case !anyGood:
		plan.Reason = "no base backup has a whole WAL chain here: no WAL removed"
		return plan
	}
	plan.KeepFrom, plan.KeptFor = cut.Name(), oldest.Name
	plan.Reason = fmt.Sprintf("from %s on, the start of the oldest kept base backup %s", cut.Name(), oldest.Name)
	for _, f := range files {
		s, err := walarchive.ParseSegment(walBase(f))
		if err == nil && s.No() < cut.No() {
			plan.Files = append(plan.Files, f)
			if segments[s.Name()] {
				delete(segments, s.Name())
				plan.RemovedSegments = append(plan.RemovedSegments, s.Name())
			}
		}
	}
	sort.Strings(plan.RemovedSegments)
	plan.KeptSegments = len(segments)
	sortSidecarsFirst(plan.Files)
	return plan
}

// sortSidecarsFirst orders WAL files so that every sidecar comes before the
// file it checks: a removal cut short leaves a file without a sidecar, which
// counts as not synced (never a sidecar vouching for a file that is gone).
func sortSidecarsFirst(files []string) {
	sort.SliceStable(files, func(i, j int) bool {
		si, sj := strings.HasSuffix(files[i], WALSidecarSuffix), strings.HasSuffix(files[j], WALSidecarSuffix)
		if si != sj {
			return si
		}
		return files[i] < files[j]
	})
}
