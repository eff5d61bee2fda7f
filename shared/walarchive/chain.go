package walarchive

import "sort"

// Chain is what CheckChain found in an archive from one segment on.
type Chain struct {
	// From is the segment the chain was asked to start at.
	From Segment
	// Found says whether From itself is in the archive. Without it nothing
	// from From on can be replayed and Last is the zero Segment.
	Found bool
	// Last is the last segment of the unbroken run starting at From: every
	// segment from From to Last is present, so WAL can be replayed up to the
	// end of Last.
	Last Segment
	// Newest is the newest segment present from From on (on the timelines
	// followed); equal to Last when there is no gap.
	Newest Segment
	// Gaps are the holes between From and Newest, oldest first.
	Gaps []Gap
}

// Gap is a run of missing segments.
type Gap struct {
	// After is the last segment present before the hole (the zero Segment
	// when From itself is missing).
	After Segment
	// Missing is the first missing segment.
	Missing Segment
	// Resume is the first segment present after the hole.
	Resume Segment
}

// Unbroken reports whether the archive holds every segment from From to
// Newest (and From itself).
func (c Chain) Unbroken() bool { return c.Found && len(c.Gaps) == 0 }

// CheckChain follows the segments in names (file names; anything but segment
// and history names is ignored, so a caller strips its own suffixes first)
// from `from` on, on from's timeline. It moves to a later timeline T only when
// T's history file (T.history) is in names, and then at the first position
// where a segment of T is present: where PostgreSQL starts a new timeline
// after a promotion or a point-in-time recovery, the new timeline's segments
// take over from the old one's at the switch point, and the old timeline's
// last, unfinished segment is archived as ".partial" (ignored here). At a
// position present on several followed timelines, the latest wins, as
// recovery_target_timeline=latest does.
func CheckChain(from Segment, names []string) Chain {
	c := Chain{From: from}
	positions := followed(from, names)
	nos := make([]uint64, 0, len(positions))
	for no := range positions {
		nos = append(nos, no)
	}
	sort.Slice(nos, func(i, j int) bool { return nos[i] < nos[j] })

	expected, tli, inRun := from.No(), from.Timeline, true
	var prev Segment
	for _, no := range nos {
		t := latestFrom(positions[no], tli)
		if t == 0 {
			continue // present only on a timeline the chain already left
		}
		seg := segmentAt(t, no)
		if no > expected {
			c.Gaps = append(c.Gaps, Gap{After: prev, Missing: segmentAt(tli, expected), Resume: seg})
			inRun = false
		} else if inRun {
			c.Found, c.Last = true, seg
		}
		tli, prev, c.Newest, expected = t, seg, seg, no+1
	}
	return c
}

// followed gathers, position by position, the timelines (from's and the later
// ones whose history file is present) that hold a segment at or after from.
func followed(from Segment, names []string) map[uint64][]uint32 {
	history := map[uint32]bool{}
	for _, n := range names {
		if tli, ok := HistoryTimeline(n); ok {
			history[tli] = true
		}
	}
	positions := map[uint64][]uint32{}
	for _, n := range names {
		s, err := ParseSegment(n)
		if err != nil || s.No() < from.No() {
			continue
		}
		if s.Timeline == from.Timeline || (s.Timeline > from.Timeline && history[s.Timeline]) {
			positions[s.No()] = append(positions[s.No()], s.Timeline)
		}
	}
	return positions
}

// latestFrom is the latest timeline in tlis that is not before tli (0 if none).
func latestFrom(tlis []uint32, tli uint32) uint32 {
	var best uint32
	for _, t := range tlis {
		if t >= tli && t > best {
			best = t
		}
	}
	return best
}
