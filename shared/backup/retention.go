package backup

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// DefaultKeepPinnedDays is how long the copies taken before a change
// (pre-migration, pre-restore, safety) are kept.
const DefaultKeepPinnedDays = 30

// PartialAge is the age after which a partial file (.NAME.partial-*) is a
// leftover of a create that was killed, not one still running.
const PartialAge = time.Hour

// The statuses of partial files in backup list and prune.
const (
	// StatusPartial: a leftover of a killed create, older than PartialAge; prune removes it.
	StatusPartial = "partial"
	// StatusWriting: a partial file younger than PartialAge, maybe of a create still running.
	StatusWriting = "writing"
)

// PrunePolicy is what prune keeps in one place.
type PrunePolicy struct {
	// Retention applies to the dumps (pg_dump and Redis), BaseRetention to
	// the base backups (FormatBaseBackup).
	Retention, BaseRetention Retention
	// WAL are the file names in the place's wal/<Namespace>/ folder
	// (segments, history files, ".age" ones, sidecars): a base backup counts
	// as good only when its WAL chain is whole there, and the segments no
	// kept base backup needs are planned for removal (PrunePlan.WAL).
	WAL []string
	// PinnedDays keeps pre-migration, pre-restore and safety copies this many days.
	PinnedDays int
	// Namespace is the namespace whose backups are considered; the others are left alone.
	Namespace string
	Now       time.Time
}

// PrunePlan is every backup of a place with its decision.
type PrunePlan struct {
	Kept, Removed []PruneEntry
	// NotConsidered are left alone: other namespaces, and backups whose
	// metadata is missing or unreadable (their namespace is unknown).
	NotConsidered []PruneEntry
	// AnyGood is false when no backup of the namespace is good: then nothing is removed.
	AnyGood bool
	// WAL is what becomes of the namespace's off-cluster WAL (PlanWALPrune).
	WAL WALPrunePlan
}

// PlanPrune decides for every item of a place, and is pure. Retention counts
// apart each (environment, database, format, kind) of p.Namespace: daily,
// weekly and monthly for scheduled and manual backups (SelectRetention;
// p.BaseRetention for base backups), p.PinnedDays for the copies taken
// before a change (SelectPinnedKind). A base backup is good only when its WAL
// chain is whole in p.WAL (else StatusWALMissing), so the newest base backup
// that can be restored is always kept. Pinned backups are kept; partial
// leftovers of p.Namespace older than PartialAge are removed. Without a good
// backup of p.Namespace nothing is removed. The WAL before the oldest kept
// base backup's start is planned for removal (PlanWALPrune).
func PlanPrune(items []ListItem, p PrunePolicy) PrunePlan {
	var plan PrunePlan
	byName := map[string]ListItem{}
	groups := map[string][]PruneCandidate{}
	var partials []ListItem
	entry := func(it ListItem, reason string) PruneEntry {
		return PruneEntry{Name: it.Name, Location: it.Location, Kind: it.Kind, Time: itemTime(it), Reason: reason}
	}
	walNames := syncedWALNames(p.WAL)
	for _, it := range items {
		byName[it.Name] = it
		switch {
		case it.Status == StatusPartial || it.Status == StatusWriting:
			switch {
			case !namedFor(it.Name, p.Namespace):
				plan.NotConsidered = append(plan.NotConsidered, entry(it, "partial file not named for "+p.Namespace+": not considered"))
			case it.Status == StatusWriting:
				plan.Kept = append(plan.Kept, entry(it, "partial file under 1h old: maybe a create still running"))
			default:
				partials = append(partials, it)
			}
		case it.Info == nil:
			plan.NotConsidered = append(plan.NotConsidered, entry(it, it.Status+": namespace unknown, never removed"))
		case it.Info.Namespace != p.Namespace:
			plan.NotConsidered = append(plan.NotConsidered, entry(it, "namespace "+orDash(it.Info.Namespace)+": not considered"))
		default:
			format, status := itemFormat(it), it.Status
			if format == FormatBaseBackup && status == "ok" && !BaseChainWhole(it.Info, walNames) {
				status = StatusWALMissing
			}
			key := strings.Join([]string{it.Kind, it.Info.Environment, it.Info.Database, format}, "\x00")
			groups[key] = append(groups[key], PruneCandidate{Name: it.Name, Time: itemTime(it), Status: status, Pinned: it.Info.Pinned})
		}
	}
	decisions, anyGood, baseGood := decideGroups(groups, p)
	plan.AnyGood = anyGood
	var keptBases []*BackupInfo
	for _, d := range decisions {
		it := byName[d.Name]
		e := entry(it, d.Reason)
		if d.Keep {
			plan.Kept = append(plan.Kept, e)
			if itemFormat(it) == FormatBaseBackup {
				keptBases = append(keptBases, it.Info)
			}
		} else {
			plan.Removed = append(plan.Removed, e)
		}
	}
	plan.WAL = PlanWALPrune(keptBases, baseGood, p.WAL)
	for _, it := range partials {
		if plan.AnyGood {
			plan.Removed = append(plan.Removed, entry(it, "partial leftover of an interrupted create"))
		} else {
			plan.Kept = append(plan.Kept, entry(it, "partial leftover; nothing is removed without a good backup"))
		}
	}
	return plan
}

// itemFormat is the format of a backup with a BackupInfo; older BackupInfos
// record none, and their name says it.
func itemFormat(it ListItem) string {
	if it.Info.Format != "" {
		return it.Info.Format
	}
	if strings.Contains(it.Name, ".rdb") {
		return FormatRedisRDB
	}
	return FormatPgDump
}

// decideGroups applies retention to every series of PlanPrune: the
// decisions, whether any series has a good backup, and whether a series of
// base backups has one.
func decideGroups(groups map[string][]PruneCandidate, p PrunePolicy) (decisions []PruneDecision, anyGood, baseGood bool) {
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		parts := strings.Split(k, "\x00")
		kind, base := parts[0], parts[3] == FormatBaseBackup
		var ds []PruneDecision
		var ok bool
		if kind == KindScheduled || kind == KindManual {
			r, newest := p.Retention, "newest "+kind
			if base {
				r, newest = p.BaseRetention, "newest "+kind+" base backup"
			}
			ds, ok = SelectRetention(groups[k], r)
			for i := range ds {
				if ds[i].Reason == "newest" {
					ds[i].Reason = newest
				}
			}
		} else {
			ds, ok = SelectPinnedKind(groups[k], kind, p.PinnedDays, p.Now)
		}
		anyGood = anyGood || ok
		baseGood = baseGood || (ok && base)
		decisions = append(decisions, ds...)
	}
	return decisions, anyGood, baseGood
}

// itemTime is a backup's time for retention: its endTime, else the file's time.
func itemTime(it ListItem) time.Time {
	if it.Info != nil && !it.Info.EndTime.IsZero() {
		return it.Info.EndTime.UTC()
	}
	return it.Modified.UTC()
}

// namedFor reports a file named as backup create names the backups of ns
// (piyasa_db-NS-<time>… or redis-NS-<time>…, a partial file with a leading
// dot): the prefix of another namespace (NS-dev) does not match.
func namedFor(name, ns string) bool {
	name = strings.TrimPrefix(filepath.Base(name), ".")
	for _, prefix := range []string{"piyasa_db-" + ns + "-", "redis-" + ns + "-"} {
		if rest, ok := strings.CutPrefix(name, prefix); ok && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
			return true
		}
	}
	return false
}

// partialLister is a Target that can list the partial files of interrupted creates.
type partialLister interface {
	Partials(ctx context.Context) ([]Entry, error)
}

// isPartialName reports a temporary file of DirTarget.Create (.NAME.partial-*).
func isPartialName(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".partial-")
}

// Partials implements partialLister: the temporary files of creates (and of
// metadata writes) that never finished or are still running.
func (d DirTarget) Partials(context.Context) ([]Entry, error) {
	des, err := os.ReadDir(d.Dir)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, de := range des {
		if de.IsDir() || !isPartialName(de.Name()) {
			continue
		}
		fi, err := de.Info()
		if err != nil {
			continue
		}
		out = append(out, Entry{Name: de.Name(), Size: fi.Size(), Modified: fi.ModTime()})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// removePartial removes one partial file of a directory.
func removePartial(t Target, name string) error {
	d, ok := t.(DirTarget)
	if !ok || !isPartialName(name) {
		return errors.New("not a partial file of a directory")
	}
	if err := os.Remove(filepath.Join(d.Dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
