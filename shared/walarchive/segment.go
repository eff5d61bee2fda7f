package walarchive

import (
	"fmt"
	"strconv"
)

// Segment is one WAL segment file: its timeline and its position, the "log"
// (high 32 bits of the LSN) and the segment within that log. Its name is the
// three as 8 upper-case hex digits each: 000000010000000000000003.
type Segment struct {
	Timeline, Log, Seg uint32
}

// IsSegmentName reports whether name is a WAL segment's file name (24
// upper-case hex digits, a timeline above 0, a segment number a 16 MiB
// segment can have). Partial (".partial"), backup-label (".backup") and
// history files are not segments.
func IsSegmentName(name string) bool {
	_, err := ParseSegment(name)
	return err == nil
}

// ParseSegment reads a segment's file name.
func ParseSegment(name string) (Segment, error) {
	if len(name) != 24 || !upperHex(name) {
		return Segment{}, fmt.Errorf("invalid WAL segment name %q: want 24 upper-case hex digits", name)
	}
	var parts [3]uint32
	for i := range parts {
		n, _ := strconv.ParseUint(name[i*8:i*8+8], 16, 32)
		parts[i] = uint32(n)
	}
	s := Segment{Timeline: parts[0], Log: parts[1], Seg: parts[2]}
	if s.Timeline == 0 || s.Seg >= segmentsPerLog {
		return Segment{}, fmt.Errorf("invalid WAL segment name %q: timeline 0 or segment number above %X", name, segmentsPerLog-1)
	}
	return s, nil
}

// Name is the segment's file name.
func (s Segment) Name() string {
	return fmt.Sprintf("%08X%08X%08X", s.Timeline, s.Log, s.Seg)
}

// String is the segment's file name.
func (s Segment) String() string { return s.Name() }

// IsZero reports whether s is the zero Segment (no segment).
func (s Segment) IsZero() bool { return s == Segment{} }

// Next is the segment that follows s on s's timeline.
func (s Segment) Next() Segment {
	return segmentAt(s.Timeline, s.No()+1)
}

// No is the segment's position in the WAL, counted in segments from LSN 0
// (the same on every timeline).
func (s Segment) No() uint64 { return uint64(s.Log)*segmentsPerLog + uint64(s.Seg) }

// StartLSN is the LSN of the segment's first byte.
func (s Segment) StartLSN() LSN { return LSN(s.No() * SegmentSize) }

// SegmentOf is the segment of timeline tli that holds lsn.
func SegmentOf(tli uint32, lsn LSN) Segment {
	return segmentAt(tli, uint64(lsn)/SegmentSize)
}

// segmentAt is the segment of timeline tli at position no.
func segmentAt(tli uint32, no uint64) Segment {
	return Segment{Timeline: tli, Log: uint32(no / segmentsPerLog), Seg: uint32(no % segmentsPerLog)}
}
