package recovery

import (
	"fmt"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/walarchive"
)

// Archive is what the postgres pod's WAL archive alone tells: its span and
// whether the chain from its oldest segment is whole. Without the base
// backups (which live off the cluster or on the backup volume) it has no
// window: `backup status --dir|--to` computes that.
type Archive struct {
	Files int `json:"files"`
	// Oldest and Newest are its oldest and newest segments ("" when it has none).
	Oldest string `json:"oldest,omitempty"`
	Newest string `json:"newest,omitempty"`
	// OldestTime and NewestTime are when they were archived.
	OldestTime *time.Time `json:"oldestTime,omitempty"`
	NewestTime *time.Time `json:"newestTime,omitempty"`
	// Gaps are the missing runs from Oldest to Newest.
	Gaps []Gap `json:"gaps"`
}

// ReadArchive summarises the pod's archive (ParseList's files) and checks
// its chain from the oldest segment.
func ReadArchive(files []ArchivedFile) Archive {
	a := Archive{Gaps: []Gap{}}
	seen := Seen{}
	for _, f := range files {
		a.Files++
		seen.Add(f.Name, f.Modified)
		if !walarchive.IsSegmentName(f.Name) {
			continue
		}
		t := f.Modified
		if a.Oldest == "" || f.Name < a.Oldest {
			a.Oldest, a.OldestTime = f.Name, &t
		}
		if f.Name > a.Newest {
			a.Newest, a.NewestTime = f.Name, &t
		}
	}
	a.Gaps = Check(seen, nil).Gaps
	return a
}

// Span is how much time the archive covers: from its oldest segment's
// archive time to its newest's (0 without two segments).
func (a Archive) Span() time.Duration {
	if a.OldestTime == nil || a.NewestTime == nil {
		return 0
	}
	return a.NewestTime.Sub(*a.OldestTime)
}

// Line says in one line what the archive holds, times relative to now:
// "WAL 000000010000000000000002 to 000000010000000000000009 (8 files), last archived 2m ago, no gap".
func (a Archive) Line(now time.Time, ago func(time.Duration) string) string {
	if a.Newest == "" {
		return fmt.Sprintf("the WAL archive holds no segment yet (%d files)", a.Files)
	}
	since := now.Sub(*a.NewestTime)
	if since < 0 {
		since = 0 // the pod's clock is ahead of ours
	}
	s := fmt.Sprintf("WAL %s to %s (%d files), last archived %s ago", a.Oldest, a.Newest, a.Files, ago(since))
	switch len(a.Gaps) {
	case 0:
		return s + ", no gap"
	case 1:
		return s + ", 1 gap: " + a.Gaps[0].String()
	}
	return fmt.Sprintf("%s, %d gaps, first: %s", s, len(a.Gaps), a.Gaps[0])
}
