package migrate

import (
	"context"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/oplock"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// DefaultKeepJobs is how many newest finished migration Jobs --cleanup always
// keeps: the suite's one rule (deploy cleanup keeps as many).
const DefaultKeepJobs = app.KeepFinishedMigrationJobs

// JobList is the document of `migrate jobs`.
type JobList struct {
	Namespace string    `json:"namespace"`
	Jobs      []JobInfo `json:"jobs"`
	// Deleted names the Jobs --cleanup removed (or would remove, with --dry-run).
	Deleted []string `json:"deleted,omitempty"`
}

// JobsOptions are the options of `migrate jobs`.
type JobsOptions struct {
	*cli.Global
	Print     *output.Flags
	Cleanup   bool
	OlderThan string
	Keep      int
	DryRun    cli.DryRun

	olderThan time.Duration
}

// NewCmdJobs returns `migrate jobs`.
func NewCmdJobs(g *cli.Global) *cobra.Command {
	o := &JobsOptions{Global: g, Print: output.NewFlags(), OlderThan: "7d", Keep: DefaultKeepJobs}
	cmd := &cobra.Command{
		Use:   "jobs",
		Short: "List past migration Jobs; --cleanup removes old finished ones",
		Long: `List the migration Jobs with their direction, revision, result, duration, image and backup.
--cleanup deletes finished Jobs (and their pods and logs) older than --older-than, always
keeping the newest --keep finished ones; running Jobs are never deleted.`,
		Example: `  kubectl piyasa migrate jobs --env prod
  kubectl piyasa migrate jobs --cleanup --older-than 7d
  kubectl piyasa migrate jobs -o json`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	o.Print.AddFlags(cmd)
	f := cmd.Flags()
	f.BoolVar(&o.Cleanup, "cleanup", false, "Delete finished migration Jobs older than --older-than (keeping the newest --keep)")
	f.StringVar(&o.OlderThan, "older-than", o.OlderThan, "With --cleanup: the age (30m, 12h, 7d) above which finished Jobs are deleted")
	f.IntVar(&o.Keep, "keep", o.Keep, "With --cleanup: the newest finished Jobs always kept")
	cli.AddDryRunFlag(cmd)
	return cmd
}

// Complete reads --dry-run and resolves the namespace.
func (o *JobsOptions) Complete(cmd *cobra.Command, args []string) error {
	var err error
	if o.DryRun, err = cli.GetDryRun(cmd, o.ErrOut); err != nil {
		return err
	}
	return o.Global.Complete()
}

// Validate checks the flags.
func (o *JobsOptions) Validate() error {
	if err := o.Print.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	d, err := cli.ParseAge(o.OlderThan)
	if err != nil {
		return cli.Usagef("--older-than: %v", err)
	}
	o.olderThan = d
	if o.Keep < 0 {
		return cli.Usagef("--keep must be 0 or more")
	}
	return nil
}

// Run lists and, with --cleanup, deletes.
func (o *JobsOptions) Run(ctx context.Context) error {
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	now := o.Now()
	infos, _, err := ListJobs(ctx, cs, o.Namespace, now)
	if err != nil {
		return err
	}
	doc := &JobList{Namespace: o.Namespace, Jobs: infos}
	// The lock is shown when it can be read (a viewer may not read Leases);
	// --cleanup needs it, to keep the Job it guards.
	lock, _, lockErr := oplock.DescribeLock(ctx, cs, o.Namespace, o.Env.MigrationLease(), now)
	if lockErr == nil && lock.Held {
		o.Infof("lock %s held: %s\n", lock.Name, lock.Describe())
	}
	if o.Cleanup {
		if lockErr != nil {
			return lockErr
		}
		finished := 0
		bg := metav1.DeletePropagationBackground
		for _, j := range infos {
			if j.State == "Running" || (lock.Held && lock.Job == j.Name) {
				continue
			}
			finished++
			if finished <= o.Keep || now.Sub(j.Created) < o.olderThan {
				continue
			}
			if !o.DryRun.Client() {
				err := cs.BatchV1().Jobs(o.Namespace).Delete(ctx, j.Name, metav1.DeleteOptions{PropagationPolicy: &bg, DryRun: o.DryRun.Server()})
				if err != nil && !apierrors.IsNotFound(err) {
					return err
				}
			}
			doc.Deleted = append(doc.Deleted, j.Name)
			if !o.DryRun.Active() {
				o.Infof("job.batch/%s deleted\n", j.Name)
			}
		}
		if len(doc.Deleted) > 0 && o.DryRun.Active() {
			o.Infof("would delete %d finished migration Jobs older than %s beyond the newest %d%s: nothing was deleted\n",
				len(doc.Deleted), o.OlderThan, o.Keep, o.DryRun.Suffix())
		}
		if len(doc.Deleted) == 0 {
			o.Infof("nothing to clean up: no finished migration Job older than %s beyond the newest %d\n", o.OlderThan, o.Keep)
		}
	}
	if o.Print.Structured() {
		return o.Print.PrintDocument(o.Out, JobsKind, doc)
	}
	if len(infos) == 0 {
		o.Infof("no migration Jobs in namespace %s\n", o.Namespace)
		return nil
	}
	t := output.NewTable(o.Out, "NAME", "DIRECTION", "TARGET", "STATE", "CREATED", "DURATION", "BACKUP", "IMAGE")
	deleted := map[string]bool{}
	for _, d := range doc.Deleted {
		deleted[d] = true
	}
	for _, j := range infos {
		state := j.State
		if deleted[j.Name] {
			if o.DryRun.Active() {
				state += " (would delete)"
			} else {
				state += " (deleted)"
			}
		}
		backup := j.Backup
		if backup == "" {
			backup = "-"
		}
		t.Append(j.Name, j.Direction, j.Target, state, j.Created.UTC().Format(time.RFC3339),
			(time.Duration(j.DurationSeconds) * time.Second).String(), backup, j.Image)
	}
	return t.Render()
}
