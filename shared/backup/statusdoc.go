package backup

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/recovery"
)

// KindBackupStatus is the kind of `backup status -o json|yaml`.
const KindBackupStatus = "BackupStatus"

// BackupStatus is the state of continuous archiving and the recovery window.
type BackupStatus struct {
	Namespace string    `json:"namespace"`
	Time      time.Time `json:"time"`
	// Archiver is pg_stat_archiver of the running PostgreSQL (nil: not read).
	Archiver *ArchiverStatus `json:"archiver,omitempty"`
	// Archive is the WAL archive volume of the postgres pod (nil: not read).
	Archive *ArchiveStatus `json:"archive,omitempty"`
	// Target is what the --dir or --to place holds (nil: none given).
	Target *TargetStatus `json:"target,omitempty"`
	// Window is the recovery window (nil: no base backup to replay WAL onto).
	Window *RecoveryWindow `json:"window,omitempty"`
	// Gaps are the missing WAL segments, from the newest base backup's start
	// segment (else the oldest segment present) to the newest present.
	Gaps []WALGap `json:"gaps"`
	// Problems are what makes the command exit 1.
	Problems []string `json:"problems"`
}

// ArchiverStatus is PostgreSQL's pg_stat_archiver.
type ArchiverStatus struct {
	ArchivedCount    int64      `json:"archivedCount"`
	LastArchivedWAL  string     `json:"lastArchivedWAL,omitempty"`
	LastArchivedTime *time.Time `json:"lastArchivedTime,omitempty"`
	FailedCount      int64      `json:"failedCount"`
	LastFailedWAL    string     `json:"lastFailedWAL,omitempty"`
	LastFailedTime   *time.Time `json:"lastFailedTime,omitempty"`
}

// Failing reports an archiver whose last failure is newer than its last success.
func (a *ArchiverStatus) Failing() bool {
	return a.LastFailedTime != nil && (a.LastArchivedTime == nil || a.LastFailedTime.After(*a.LastArchivedTime))
}

// ArchiveStatus is the WAL archive volume in the postgres pod.
type ArchiveStatus struct {
	// Files and Bytes count the segments and history files archived.
	Files         int    `json:"files"`
	Bytes         int64  `json:"bytes"`
	OldestSegment string `json:"oldestSegment,omitempty"`
	NewestSegment string `json:"newestSegment,omitempty"`
	// NewestTime is when the newest segment was archived.
	NewestTime *time.Time `json:"newestTime,omitempty"`
	// Volume is df of the archive directory (nil: not read).
	Volume *VolumeUsage `json:"volume,omitempty"`
}

// VolumeUsage is a file system's size and use.
type VolumeUsage struct {
	SizeBytes      int64 `json:"sizeBytes"`
	UsedBytes      int64 `json:"usedBytes"`
	AvailableBytes int64 `json:"availableBytes"`
	// UsedPercent is df's Capacity (used / (used + available), rounded up).
	UsedPercent int `json:"usedPercent"`
}

// TargetStatus is what a backup place holds of the namespace.
type TargetStatus struct {
	Location string `json:"location"`
	// SyncedFiles counts the WAL files synced (with their sidecar).
	SyncedFiles       int        `json:"syncedFiles"`
	LastSyncedSegment string     `json:"lastSyncedSegment,omitempty"`
	LastSyncedTime    *time.Time `json:"lastSyncedTime,omitempty"`
	// BaseBackup is the newest base backup of the namespace there (nil: none).
	BaseBackup *BackupInfo `json:"baseBackup,omitempty"`
	// BaseBackups counts the base backups of the namespace there.
	BaseBackups int `json:"baseBackups"`
	// LastVerifiedRestore is the newest restore test of any backup there.
	LastVerifiedRestore *time.Time `json:"lastVerifiedRestore,omitempty"`
}

// RecoveryWindow is the span a point-in-time restore can reach (shared/recovery).
type RecoveryWindow = recovery.Window

// WALGap is a run of missing WAL segments (shared/recovery).
type WALGap = recovery.Gap

// walSeen is the WAL files present and when each was archived (shared/recovery).
type walSeen = recovery.Seen

// chainFrom checks the chain from the newest base backup (its start
// segment) or, without one, from the oldest segment present; it fills Gaps
// and Window. The window then starts at the oldest base backup (bases are
// oldest first) whose chain reaches as far as the newest's: a restore to any
// second from its end takes the newest base backup before that second, as
// restore --to-time does. A base backup kept in the place but older than the
// window's start (its WAL lost or pruned) is a problem: the window is shorter
// than the retention keeps.
func (s *BackupStatus) chainFrom(seen walSeen, bases []*BackupInfo) {
	var newest *BackupInfo
	if len(bases) > 0 {
		newest = bases[len(bases)-1]
	}
	r := recovery.Check(seen, recoveryBase(newest))
	s.Gaps, s.Window = r.Gaps, r.Window
	s.Problems = append(s.Problems, r.Problems...)
	if s.Window == nil {
		return
	}
	for _, b := range bases[:len(bases)-1] {
		if w := recovery.Check(seen, recoveryBase(b)).Window; w != nil && w.LastSegment == s.Window.LastSegment {
			s.Window.From, s.Window.BaseBackup = w.From, w.BaseBackup
			break
		}
	}
	if oldest := bases[0]; oldest.EndTime.Before(s.Window.From) {
		s.Problems = append(s.Problems, fmt.Sprintf("the window starts at %s, after base backup %s (kept, ended %s): its WAL from %s on is not whole",
			s.Window.From.UTC().Format(time.RFC3339), oldest.Name, oldest.EndTime.UTC().Format(time.RFC3339), oldest.WAL.StartSegment))
	}
}

// recoveryBase is what shared/recovery needs of a base backup (nil for none).
func recoveryBase(b *BackupInfo) *recovery.Base {
	if b == nil || b.WAL == nil {
		return nil
	}
	return &recovery.Base{Name: b.Name, EndTime: b.EndTime, StartSegment: b.WAL.StartSegment, EndLSN: b.WAL.EndLSN}
}

// parseArchiver reads the row of archiverSQL.
func parseArchiver(row string) (*ArchiverStatus, error) {
	f := strings.Split(strings.TrimRight(row, "\r\n"), "\t")
	if len(f) != 6 {
		return nil, fmt.Errorf("unexpected pg_stat_archiver row %q", row)
	}
	a := &ArchiverStatus{LastArchivedWAL: f[1], LastFailedWAL: f[4]}
	var err1, err2 error
	a.ArchivedCount, err1 = strconv.ParseInt(f[0], 10, 64)
	a.FailedCount, err2 = strconv.ParseInt(f[3], 10, 64)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("unexpected pg_stat_archiver row %q", row)
	}
	a.LastArchivedTime, err1 = epochOrNil(f[2])
	a.LastFailedTime, err2 = epochOrNil(f[5])
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("unexpected pg_stat_archiver row %q", row)
	}
	return a, nil
}

func epochOrNil(s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, err
	}
	t := time.Unix(n, 0).UTC()
	return &t, nil
}

// archiverSQL reads pg_stat_archiver as one tab-separated row, times in epoch seconds.
const archiverSQL = `SELECT archived_count, coalesce(last_archived_wal, ''),
 coalesce(extract(epoch FROM last_archived_time)::bigint::text, ''), failed_count,
 coalesce(last_failed_wal, ''), coalesce(extract(epoch FROM last_failed_time)::bigint::text, '')
 FROM pg_stat_archiver`

// parseDF reads the last line of `df -Pk`: size, used and available in KiB
// and the capacity.
func parseDF(out string) (*VolumeUsage, error) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	f := strings.Fields(lines[len(lines)-1])
	if len(f) < 5 {
		return nil, fmt.Errorf("unexpected df output %q", lines[len(lines)-1])
	}
	var n [3]int64
	for i := range n {
		v, err := strconv.ParseInt(f[i+1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("unexpected df output %q", lines[len(lines)-1])
		}
		n[i] = v * 1024
	}
	pct, err := strconv.Atoi(strings.TrimSuffix(f[4], "%"))
	if err != nil {
		return nil, fmt.Errorf("unexpected df output %q", lines[len(lines)-1])
	}
	return &VolumeUsage{SizeBytes: n[0], UsedBytes: n[1], AvailableBytes: n[2], UsedPercent: pct}, nil
}
