package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/backup/backupflags"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/migrate/migraterun"
	"github.com/piyasa/kubectl-piyasa/shared/suite"
)

// updateMigrate is `deploy update --migrate`: `kubectl-piyasa-migrate up`
// (a backup first, as its --backup-first, then the migration in the new api
// image) run as a child process before any image moves. Running the suite's
// migrate binary instead of linking its code keeps kubectl-piyasa-deploy free
// of the backup code and its S3 and compression libraries.
type updateMigrate struct {
	On     bool
	Backup backupflags.First

	// cmd is `deploy update`, whose given flags are passed on.
	cmd *cobra.Command
	// context is the kubeconfig context to migrate in ("": the one given;
	// --fleet: the primary region's).
	context string
	// done is set once the migration succeeded: what a later rollback must say.
	done *migrationDone
}

// migrationDone is what a rollback after a successful migration reports.
type migrationDone struct {
	Job, Before, Backup string
}

// migrateSub is the subcommand --migrate runs.
const migrateSub = "migrate"

// killed is the exit code runMigrate reports for a child a signal ended.
const killed = -1

// childGrace is how long a cancelled child may take to stop (after SIGTERM)
// before it is killed: it releases or hands over the migrate lock first.
const childGrace = 20 * time.Second

// The seams of the child process; the unit tests replace them.
var (
	// findMigrate returns the path of kubectl-piyasa-migrate: beside this
	// executable (symbolic links resolved), else on PATH, as the dispatcher finds subcommands.
	findMigrate = func() (string, bool) { return findSuiteBinary(migrateSub) }
	// runMigrate runs path with args, its standard error going to errOut as
	// it comes, and returns its standard output and its exit code (killed:
	// ended by a signal). Cancelling ctx stops it as Ctrl-C would.
	runMigrate = runChild
)

// runChild is runMigrate: cancelling ctx sends the child SIGTERM (it runs in
// its own process group, so a Ctrl-C on the terminal reaches it once,
// through this process), and kills it when it has not ended after childGrace.
func runChild(ctx context.Context, path string, args []string, errOut io.Writer) ([]byte, int, error) {
	var out bytes.Buffer
	c := exec.CommandContext(ctx, path, args...)
	c.Stdout, c.Stderr = &out, errOut
	c.SysProcAttr = childProcAttr()
	c.Cancel = func() error { return terminate(c.Process) }
	c.WaitDelay = childGrace
	err := c.Run()
	if c.ProcessState == nil {
		return nil, 0, err // it did not start
	}
	return out.Bytes(), c.ProcessState.ExitCode(), nil
}

func (m *updateMigrate) addFlags(cmd *cobra.Command) {
	m.cmd = cmd
	cmd.Flags().BoolVar(&m.On, "migrate", false, "Run the database migrations (kubectl-piyasa-migrate up with the new api image, after a backup) before moving any image")
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

// args is the command line of kubectl-piyasa-migrate: up to head in image,
// -o json, the namespace and environment this command resolved, and the
// shared and backup flags given to this command.
func (m *updateMigrate) args(g *cli.Global, image string) []string {
	args := []string{"up", "--to=head", "--image=" + image, "--output=json", "--namespace=" + g.Namespace, "--env=" + g.Env.Name}
	if m.context != "" {
		args = append(args, "--context="+m.context)
	}
	args = append(args, cli.GlobalFlagArgs(m.cmd, "namespace", "env")...)
	names := backupflags.Names()
	return append(args, cli.FlagArgs(m.cmd.Flags(), func(n string) bool { return slices.Contains(names, n) })...)
}

// run runs kubectl-piyasa-migrate up with image (only finds it in a dry run).
// A failure is an error saying that no image was changed, with the child's
// exit code 1, 2 or 3; an interruption is exit 130.
func (m *updateMigrate) run(ctx context.Context, g *cli.Global, image string, dryRun bool) error {
	bin := suite.Binary(migrateSub)
	path, ok := findMigrate()
	if !ok {
		return cli.Usagef("--migrate runs %s, which is not installed: no %s beside %s or on PATH", bin, bin, suite.SelfDir()).
			WithHint("%s", suite.InstallHint)
	}
	if dryRun {
		g.Infof("dry run: the backup and the migration are not run (%s)\n", path)
		return nil
	}
	stdout, code, err := runMigrate(ctx, path, m.args(g, image), g.ErrOut)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return cli.Failedf("cannot run %s: %v; no image was changed", path, err)
	}
	r, perr := parseRun(stdout)
	statusHint := fmt.Sprintf("see what it left: kubectl piyasa migrate status -n %s", g.Namespace)
	switch {
	case code == 0 && perr != nil:
		return cli.Failedf("%s succeeded, but its output cannot be read (%v), so no image was changed", bin, perr).
			WithHint("%s; then run the update again", statusHint)
	case code == 0 && r.State == migraterun.StateUpToDate:
		return nil // nothing was migrated: a rollback has no migration to explain
	case code == 0:
		m.done = &migrationDone{Job: r.Job, Before: r.From, Backup: r.Backup}
		return nil
	case code == cli.ExitInterrupted:
		return cli.ExitCode(cli.ExitInterrupted) // the child said what it left running
	case code == killed && ctx.Err() != nil:
		return &cli.Error{Code: cli.ExitInterrupted, Msg: "interrupted", Hint: bin + " did not stop in time and was killed; " + statusHint}
	case code == killed:
		return cli.Failedf("%s was killed by a signal, so no image was changed", bin).WithHint("%s", statusHint)
	case code == cli.ExitFailed && r.Job != "":
		return cli.Failedf("migration failed, so no image was changed: Job %s", r.Job).
			WithHint("read its log: kubectl logs job/%s -n %s; fix the migration and run the update again", r.Job, g.Namespace)
	case code == cli.ExitFailed:
		return cli.Failedf("the migration did not run (see the error above), so no image was changed")
	case code == cli.ExitUsage:
		return cli.Usagef("%s refused the arguments of --migrate, so nothing was migrated and no image was changed", path).
			WithHint("is it the version of kubectl-piyasa-deploy? compare with: kubectl piyasa version")
	case code == cli.ExitCluster:
		return &cli.Error{Code: cli.ExitCluster, Msg: "the migration did not run (see the error above), so no image was changed"}
	default:
		return cli.Failedf("%s exited with code %d, so no image was changed", bin, code).WithHint("%s", statusHint)
	}
}

// parseRun reads the MigrationRun document kubectl-piyasa-migrate printed.
func parseRun(stdout []byte) (migraterun.Result, error) {
	var doc struct {
		Kind string `json:"kind"`
		migraterun.Result
	}
	if len(bytes.TrimSpace(stdout)) == 0 {
		return doc.Result, errors.New("no document on its standard output")
	}
	if err := json.Unmarshal(stdout, &doc); err != nil {
		return migraterun.Result{}, err
	}
	if doc.Kind != migraterun.Kind || (doc.Job == "" && doc.State != migraterun.StateUpToDate) {
		return migraterun.Result{}, fmt.Errorf("not a %s document with a Job", migraterun.Kind)
	}
	return doc.Result, nil
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
