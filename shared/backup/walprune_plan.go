package backup

import (
	"fmt"

	"github.com/piyasa/kubectl-piyasa/shared/walarchive"
)

// ArchivePrunePlan is what `backup wal prune` does to the archive volume in
// the postgres pod: the segments before the newest good base backup's start
// that are synced to the place, or older than every segment the place holds
// (backup prune removed them there), go; history files, segments not yet
// synced, the newest segment and everything from that start on stay.
type ArchivePrunePlan struct {
	// KeepFrom is the first segment position kept ("" when none is removed,
	// or with --force and no base backup: every synced one but the newest goes).
	KeepFrom string `json:"keepFrom,omitempty"`
	// BaseBackup is the base backup whose start KeepFrom is ("" with --force).
	BaseBackup string `json:"baseBackup,omitempty"`
	// Remove are the segments removed (or to be removed), oldest first.
	Remove []string `json:"removed"`
	// Bytes is their size.
	Bytes int64 `json:"bytes"`
	// Kept counts the segments that stay; NotSynced those of them that would
	// go but are not synced to the place yet.
	Kept      int `json:"kept"`
	NotSynced int `json:"notSynced"`
}

// NewestGoodBase is the newest base backup of namespace ns among items
// (status ok) whose WAL chain is whole in the synced WAL names (nil when none).
func NewestGoodBase(items []ListItem, ns string, walNames []string) *BackupInfo {
	var best *BackupInfo
	for _, it := range items {
		in := it.Info
		if it.Status != "ok" || in == nil || in.Namespace != ns || in.Format != FormatBaseBackup || !BaseChainWhole(in, walNames) {
			continue
		}
		if best == nil || in.EndTime.After(best.EndTime) {
			best = in
		}
	}
	return best
}

// PlanArchivePrune decides, and is pure, which segments of the pod's archive
// go. base is the newest good base backup of the place (nil: none); synced
// are the names synced to the place (sidecar present): a segment goes when
// synced, or older than the oldest segment synced (the place's retention
// removed it; a good base backup's chain starts at or after that one).
// Without base nothing goes unless force, and then every synced segment but
// the newest. The newest segment of the archive never goes, nor one between
// the place's oldest segment and the cut that is not synced yet.
func PlanArchivePrune(archive []ArchivedFile, synced map[string]bool, base *BackupInfo, force bool) (ArchivePrunePlan, error) {
	plan := ArchivePrunePlan{Remove: []string{}}
	var newest walarchive.Segment
	for _, f := range archive {
		if s, err := walarchive.ParseSegment(f.Name); err == nil && s.No() >= newest.No() {
			newest = s
		}
	}
	var oldestSynced walarchive.Segment
	for n := range synced {
		if s, err := walarchive.ParseSegment(n); err == nil && (oldestSynced.IsZero() || s.No() < oldestSynced.No()) {
			oldestSynced = s
		}
	}
	cut := newest
	switch {
	case base != nil && base.WAL != nil:
		s, err := walarchive.ParseSegment(base.WAL.StartSegment)
		if err != nil {
			return plan, fmt.Errorf("base backup %s: %v", base.Name, err)
		}
		if s.No() < cut.No() {
			cut = s
		}
		plan.KeepFrom, plan.BaseBackup = cut.Name(), base.Name
	case !force:
		return plan, fmt.Errorf("no base backup")
	default:
		plan.KeepFrom = cut.Name()
	}
	for _, f := range archive {
		s, err := walarchive.ParseSegment(f.Name)
		switch {
		case err != nil:
			continue
		case s.No() >= cut.No() || s == newest:
			plan.Kept++
		case !synced[f.Name] && (oldestSynced.IsZero() || s.No() >= oldestSynced.No()):
			plan.Kept++
			plan.NotSynced++
		default:
			plan.Remove = append(plan.Remove, f.Name)
			plan.Bytes += f.Size
		}
	}
	return plan, nil
}
