package migrate

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/backup"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// DefaultBackupDir is where a backup first goes when neither --backup-dir nor
// --backup-to is given (created 0700).
const DefaultBackupDir = "./backups"

// BackupFlags are --backup-first, --no-backup, --backup-dir, --backup-to and
// the S3 settings: a `backup create` before a migration, shared by `migrate
// up`, `migrate down` and `deploy update --migrate`.
type BackupFlags struct {
	First, No bool
	Dir, To   string
	S3        backup.S3Flags
	// Executor runs the dump in the postgres pod (nil: the exec API).
	Executor backup.Executor

	// always is true for `migrate down`: the backup is taken unless --no-backup.
	always bool
	// on is the resolved decision (Resolve).
	on bool
}

// AddFlags adds the backup flags to cmd; always makes the backup the
// default (migrate down), without --backup-first.
func (b *BackupFlags) AddFlags(cmd *cobra.Command, always bool) {
	b.always = always
	f := cmd.Flags()
	if !always {
		f.BoolVar(&b.First, "backup-first", false, "Take a checked backup of the database first (as 'backup create'), under the migrate lock, and record it on the Job; on by default in the prod environment")
		f.BoolVar(&b.No, "no-backup", false, "Do not take a backup first (turns off the prod default)")
	} else {
		f.BoolVar(&b.No, "no-backup", false, "Skip the backup that is otherwise always taken first (a warning is printed)")
	}
	f.StringVar(&b.Dir, "backup-dir", "", "Directory for the backup taken first (default "+DefaultBackupDir+", created 0700)")
	f.StringVar(&b.To, "backup-to", "", "Put the backup taken first in S3: s3://BUCKET/PREFIX (see the --s3-* flags)")
	b.S3.AddFlags(f)
}

// Resolve decides whether a backup is taken in env (no I/O): --backup-first,
// or always (down), or the prod environment, unless --no-backup.
func (b *BackupFlags) Resolve(env app.Environment) {
	b.on = !b.No && (b.First || b.always || env.Name == "prod")
}

// On reports whether a backup is taken first (after Resolve).
func (b *BackupFlags) On() bool { return b.on }

// Validate checks the flags (no I/O).
func (b *BackupFlags) Validate() error {
	if b.First && b.No {
		return cli.Usagef("--backup-first and --no-backup contradict each other: give one")
	}
	if b.Dir != "" && b.To != "" {
		return cli.Usagef("give one of --backup-dir and --backup-to")
	}
	if b.No && (b.Dir != "" || b.To != "") {
		return cli.Usagef("--no-backup takes no --backup-dir or --backup-to")
	}
	if strings.HasPrefix(b.Dir, backup.S3Scheme) {
		return cli.Usagef("--backup-dir takes a directory; use --backup-to for s3:// locations")
	}
	if b.To != "" {
		if !strings.HasPrefix(b.To, backup.S3Scheme) {
			return cli.Usagef("--backup-to takes s3://BUCKET/PREFIX; use --backup-dir for a local directory")
		}
		if _, err := backup.ParseTargetRef(b.To, &b.S3); err != nil {
			return cli.Usagef("%v", err)
		}
	}
	return nil
}

// Where names the place of the backup (DefaultBackupDir when none was given).
func (b *BackupFlags) Where() string {
	if b.To != "" {
		return b.To
	}
	if b.Dir != "" {
		return b.Dir
	}
	return DefaultBackupDir
}

// Take runs the backup and returns its location; a failure is exit 1 saying
// that nothing was migrated.
func (b *BackupFlags) Take(ctx context.Context, g *cli.Global) (string, error) {
	spec := backup.CreateSpec{To: b.To, S3: &b.S3, Executor: b.Executor}
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
// the lock and records it on the Job, or nil when no backup is taken. loc,
// when not nil, receives the backup's location.
func (b *BackupFlags) BeforeJob(g *cli.Global, loc *string) func(context.Context, string) (map[string]string, error) {
	if !b.on {
		return nil
	}
	return func(ctx context.Context, _ string) (map[string]string, error) {
		l, err := b.Take(ctx, g)
		if err != nil {
			return nil, err
		}
		if loc != nil {
			*loc = l
		}
		return map[string]string{app.MigrationBackupAnnotation: l}, nil
	}
}
