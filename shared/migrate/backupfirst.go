package migrate

import (
	"context"

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

// Take runs the backup and returns its location; a failure is exit 1 saying
// that nothing was migrated.
func (b *BackupFlags) Take(ctx context.Context, g *cli.Global) (string, error) {
	spec := backup.CreateSpec{To: b.To, S3: &backup.S3Flags{S3: b.S3}, Executor: b.Executor}
	if b.To == "" {
		spec.Dir = b.Where()
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

// BeforeJob returns the Options.BeforeJob seam that takes the backup under
// the lock and records it on the Job (Up reports it as Result.Backup), or nil
// when no backup is taken.
func (b *BackupFlags) BeforeJob(g *cli.Global) func(context.Context, string) (map[string]string, error) {
	if !b.On() {
		return nil
	}
	return func(ctx context.Context, _ string) (map[string]string, error) {
		l, err := b.Take(ctx, g)
		if err != nil {
			return nil, err
		}
		return map[string]string{app.MigrationBackupAnnotation: l}, nil
	}
}
