package backup

import (
	"path"
	"strings"
)

// KindOf is the kind of a backup as retention counts it: its BackupKind when
// it records one; else a name with "-pre-restore" (or "-pre-migration")
// before its extension is that kind; a BackupInfo without an environment was
// written by the backup CronJob (scheduled); every other backup is manual.
// info may be nil (no readable metadata).
func KindOf(name string, info *BackupInfo) string {
	if info != nil && info.BackupKind != "" {
		return info.BackupKind
	}
	base := path.Base(name)
	for _, k := range []string{KindPreRestore, KindPreMigration} {
		if strings.Contains(base, "-"+k+".") {
			return k
		}
	}
	if info != nil && info.Environment == "" {
		return KindScheduled
	}
	return KindManual
}

// isPinnedKind reports the kinds kept for days (--keep-pinned-days) rather
// than by daily/weekly/monthly retention: the copies taken before a change.
func isPinnedKind(kind string) bool {
	return kind == KindPreMigration || kind == KindPreRestore || kind == KindSafety
}

// knownKind reports one of BackupKinds.
func knownKind(kind string) bool {
	for _, k := range BackupKinds {
		if k == kind {
			return true
		}
	}
	return false
}
