// Package walarchive knows PostgreSQL's WAL file names: log sequence numbers,
// segment names, timeline history files, and whether a set of archived
// segments forms an unbroken chain. It is pure (no I/O) so that `backup wal
// sync`, `backup status` and point-in-time restores share one reading of the
// archive.
package walarchive

import (
	"fmt"
	"strconv"
	"strings"
)

// SegmentSize is the size of a WAL segment: PostgreSQL's default
// wal_segment_size (16 MiB), which the app's manifests keep.
const SegmentSize = 16 << 20

// segmentsPerLog is how many segments one "log" (the high 32 bits of an LSN) holds.
const segmentsPerLog = (1 << 32) / SegmentSize

// HistorySuffix ends a timeline history file's name: 00000002.history.
const HistorySuffix = ".history"

// LSN is a PostgreSQL log sequence number: a byte position in the WAL.
type LSN uint64

// ParseLSN reads an LSN as PostgreSQL prints it: two hexadecimal numbers of at
// most 8 digits separated by a slash ("0/3000028").
func ParseLSN(s string) (LSN, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok || hi == "" || lo == "" || len(hi) > 8 || len(lo) > 8 {
		return 0, fmt.Errorf("invalid LSN %q: want two hex numbers such as 0/3000028", s)
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("invalid LSN %q: want two hex numbers such as 0/3000028", s)
	}
	return LSN(h<<32 | l), nil
}

// String prints l as PostgreSQL does: "0/3000028".
func (l LSN) String() string {
	return fmt.Sprintf("%X/%X", uint32(l>>32), uint32(l))
}

// IsHistoryName reports whether name is a timeline history file's name:
// 8 upper-case hex digits (a timeline above 0) and ".history".
func IsHistoryName(name string) bool {
	_, ok := HistoryTimeline(name)
	return ok
}

// HistoryTimeline returns the timeline a history file's name is for.
func HistoryTimeline(name string) (uint32, bool) {
	tli, ok := strings.CutSuffix(name, HistorySuffix)
	if !ok || len(tli) != 8 || !upperHex(tli) {
		return 0, false
	}
	n, _ := strconv.ParseUint(tli, 16, 32)
	return uint32(n), n != 0
}

// HistoryName is the name of timeline tli's history file.
func HistoryName(tli uint32) string { return fmt.Sprintf("%08X%s", tli, HistorySuffix) }

// upperHex reports whether s is made of the digits PostgreSQL prints in file names.
func upperHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'A' || c > 'F') {
			return false
		}
	}
	return true
}

// BackupLabelSuffix ends the backup history file PostgreSQL archives when a
// base backup ends: "<start segment>.<offset>.backup" (its START and STOP
// WAL LOCATION and TIME inside).
const BackupLabelSuffix = ".backup"

// BackupLabelStart returns the start segment a backup history file's name
// names ("000000010000000000000003.00000028.backup" → segment 3).
func BackupLabelStart(name string) (Segment, bool) {
	rest, ok := strings.CutSuffix(name, BackupLabelSuffix)
	if !ok || len(rest) != 33 || rest[24] != '.' || !upperHex(rest[25:]) {
		return Segment{}, false
	}
	s, err := ParseSegment(rest[:24])
	return s, err == nil
}
