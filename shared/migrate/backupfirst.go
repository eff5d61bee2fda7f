package migrate

import (
	"context"
	"path/filepath"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/backup"
	"github.com/piyasa/kubectl-piyasa/shared/backup/backupflags"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// DefaultBackupDir is where a backup first goes when neither --backup-dir nor
// --backup-to is given (created 0700).
const DefaultBackupDir = backupflags.DefaultDir

// BackupFlags are the backup-first flags (declared, with their validation, in
// backupflags.First) and the backup they take: a `backup create` before a
// migration, for `migrate up` and `migrate down`.
type BackupFlags struct {
	backupflags.First
	// Executor runs the dump in the postgres pod (nil: the exec API).
	Executor backup.Executor
}

// Take runs the backup (kind pre-migration) and returns its location: an
// absolute path or an s3:// URL, which the Job records for whoever reads it
// later, from wherever. A failure is exit 1 saying that nothing was migrated.
func (b *BackupFlags) Take(ctx context.Context, g *cli.Global) (string, error) {
	spec := backup.CreateSpec{To: b.To, S3: &backup.S3Flags{S3: b.S3}, Executor: b.Executor, Kind: backup.KindPreMigration}
	if b.To == "" {
		dir, err := filepath.Abs(b.Where())
		if err != nil {
			return "", cli.Failedf("the backup directory %s: %v; nothing was migrated", b.Where(), err)
		}
		spec.Dir = dir
	}
	g.Infof("backup first: dumping %s of %s to %s\n", app.DatabaseName, g.Namespace, b.Where())
	info, err := backup.Create(ctx, g, spec)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		return "", cli.Failedf("the backup before the migration failed, so nothing was migrated: %v", err).
			WithHint("fix the backup target (or run: kubectl piyasa backup create -n %s), then run the migration again", g.Namespace)
	}
	g.Infof("backup first: %s (%s, sha256 %s)\n", info.Location, backup.HumanBytes(info.StoredBytes), shortSum(info.StoredSHA256))
	return info.Location, nil
}

func shortSum(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// Step returns the Options.BackupFirst step, nil when no backup is taken.
func (b *BackupFlags) Step() Backuper {
	if !b.On() {
		return nil
	}
	return b
}
