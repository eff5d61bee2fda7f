package deploy

import (
	"context"
	"errors"
	"strings"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/migrate"
)

// updateMigrate is `deploy update --migrate`: a backup (as `migrate up
// --backup-first`), then the migration in the new api image, before any image moves.
type updateMigrate struct {
	On     bool
	Backup migrate.BackupFlags
	// Exec runs alembic and pg_isready in pods (nil: the exec API).
	Exec migrate.Execer

	// done is set once the migration succeeded: what a later rollback must say.
	done *migrationDone
}

// migrationDone is what a rollback after a successful migration reports.
type migrationDone struct {
	Job, Before, Backup string
}

func (m *updateMigrate) addFlags(cmd *cobra.Command) {
	cmd.Flags().BoolVar(&m.On, "migrate", false, "Run the database migrations (migrate up with the new api image, after a backup) before moving any image")
	m.Backup.AddFlags(cmd.Flags(), false)
}

func (m *updateMigrate) validate(apiRef string) error {
	if err := m.Backup.Validate(); err != nil {
		return err
	}
	if !m.On {
		if m.Backup.Given() {
			return cli.Usagef("--backup-first, --no-backup, --backup-dir and --backup-to go with --migrate")
		}
		return nil
	}
	if apiRef == "" {
		return cli.Usagef("--migrate needs --image: the migration runs in the new api image")
	}
	return nil
}

// run takes the backup and migrates with image under the migrate lock. A
// failure is exit 1 saying no image was changed.
func (m *updateMigrate) run(ctx context.Context, g *cli.Global, image string) error {
	before := ""
	if st, err := migrate.GetStatus(ctx, g, m.Exec); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		g.Infof("warning: could not read the database's revision before migrating: %v\n", err)
	} else {
		before = strings.Join(st.Current, ",")
		if before == "" {
			before = "base"
		}
		g.Infof("database revision before the migration: %s\n", before)
	}
	r, err := migrate.Up(ctx, g, migrate.Options{Direction: "up", To: "head", Image: image, Timeout: migrate.DefaultTimeout,
		Retries: migrate.DefaultRetries, LogOut: g.ErrOut, Exec: m.Exec, BeforeJob: m.Backup.BeforeJob(g)})
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		if r != nil && r.Job != "" {
			return cli.Failedf("migration failed, so no image was changed: Job %s", r.Job).
				WithHint("read its log: kubectl logs job/%s -n %s; fix the migration and run the update again", r.Job, g.Namespace)
		}
		return cli.Failedf("no image was changed: %v", err)
	}
	m.done = &migrationDone{Job: r.Job, Before: before, Backup: r.Backup}
	return nil
}

// explainRollback says, after images were put back over a migrated schema,
// that the schema is ahead of the old image and how to undo it.
func (m *updateMigrate) explainRollback(g *cli.Global, err error) error {
	if m.done == nil || err == nil {
		return err
	}
	g.Infof("\nThe database schema is now AHEAD of the old image: migration Job %s succeeded, but the update failed and the images are the old ones again (a rollback does not undo a migration).\n", m.done.Job)
	if m.done.Before != "" {
		g.Infof("To undo the migration: kubectl piyasa migrate down --to %s -n %s\n", m.done.Before, g.Namespace)
	} else {
		g.Infof("To undo the migration: kubectl piyasa migrate down --to REVISION -n %s (the revision before is unknown: see kubectl piyasa migrate history -n %s)\n", g.Namespace, g.Namespace)
	}
	if m.done.Backup != "" {
		g.Infof("Or restore the backup taken before it: kubectl piyasa backup restore %s -n %s\n", m.done.Backup, g.Namespace)
	}
	var ce *cli.Error
	if errors.As(err, &ce) && !ce.Silent {
		before := m.done.Before
		if before == "" {
			before = "REVISION"
		}
		ce.Hint = "the database schema is now ahead of the old image: undo it with kubectl piyasa migrate down --to " + before + " -n " + g.Namespace
		if m.done.Backup != "" {
			ce.Hint += ", or restore " + m.done.Backup
		}
	}
	return err
}
