package backup

import (
	"context"
	"fmt"
	"strings"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// PruneWAL is what `backup prune` did to the namespace's WAL in the place.
type PruneWAL struct {
	// Location is the namespace's WAL folder (.../wal/<namespace>).
	Location string `json:"location"`
	WALPrunePlan
	// Failed is the error that stopped the removal ("" when none).
	Failed string `json:"failed,omitempty"`
}

// listWAL lists the namespace's WAL folder of the place: its target and the
// names of its files (none when it does not exist).
func (o *PruneOptions) listWAL(ctx context.Context) (Target, []string, error) {
	wal, err := WALTarget(o.target, o.Namespace)
	if err != nil {
		return nil, nil, cli.Failedf("%v", err)
	}
	entries, err := listFiles(ctx, wal)
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		return nil, nil, cli.Failedf("cannot list %s: %v", wal.Location(""), err)
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name
	}
	return wal, names, nil
}

// pruneWAL removes the WAL files of the plan (sidecars first), unless this
// is a dry run or a backup's removal failed (the WAL then stays for the
// next prune to decide again).
func (o *PruneOptions) pruneWAL(ctx context.Context, wal Target, doc *BackupPrune) error {
	w := doc.WAL
	switch {
	case len(w.Files) == 0 || o.DryRun.Active():
		return nil
	case len(doc.Failed) > 0:
		w.KeptSegments += len(w.RemovedSegments)
		w.Reason, w.RemovedSegments, w.Files = "a backup could not be removed: no WAL removed", []string{}, nil
		return nil
	}
	if err := removeFiles(ctx, wal, w.Files); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w.Failed = err.Error()
	}
	return nil
}

// walRows are the table rows of the WAL: the range removed and the range kept.
func walRows(doc BackupPrune) [][]string {
	w := doc.WAL
	if w == nil || (w.KeptSegments == 0 && len(w.RemovedSegments) == 0) {
		return nil
	}
	folder := strings.TrimPrefix(w.Location, strings.TrimSuffix(doc.Location, "/")+"/")
	var rows [][]string
	if n := len(w.RemovedSegments); n > 0 {
		action := "REMOVE"
		if w.Failed != "" {
			action = "FAILED"
		}
		rng := w.RemovedSegments[0]
		if n > 1 {
			rng += ".." + w.RemovedSegments[n-1]
		}
		rows = append(rows, []string{action, folder + "/" + rng, "wal", "-",
			fmt.Sprintf("%s before %s, the start of the oldest kept base backup", cli.Plural(n, "segment", "segments"), w.KeepFrom)})
	}
	if w.KeptSegments > 0 {
		rows = append(rows, []string{"KEEP", folder + "/", "wal", "-", fmt.Sprintf("%s: %s", cli.Plural(w.KeptSegments, "segment", "segments"), w.Reason)})
	}
	return rows
}
