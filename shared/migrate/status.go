package migrate

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/fleet/fleetcmd"
	"github.com/piyasa/kubectl-piyasa/shared/oplock"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// Kinds of the documents printed with -o json|yaml.
const (
	StatusKind  = "MigrationStatus"
	HistoryKind = "MigrationHistory"
	JobsKind    = "MigrationJobList"
)

// Status is the document of `migrate status`.
type Status struct {
	Namespace string `json:"namespace"`
	// Pod is the api pod alembic ran in.
	Pod string `json:"pod"`
	// Current holds the database's revisions (alembic_version); empty: nothing applied.
	Current []string `json:"current"`
	// Heads are the image's heads (alembic heads).
	Heads []string `json:"heads"`
	// Pending are the revisions not yet applied, oldest first.
	Pending       []string `json:"pending"`
	UpToDate      bool     `json:"upToDate"`
	MultipleHeads bool     `json:"multipleHeads"`
	// Problems says why the status is not clean (exit 1).
	Problems []string `json:"problems,omitempty"`
	// Running is a migration Job still running; LastFailed the newest Job when it failed.
	Running    *JobInfo        `json:"running,omitempty"`
	LastFailed *JobInfo        `json:"lastFailed,omitempty"`
	Lock       oplock.LockInfo `json:"lock"`
}

// StatusOptions are the options of `migrate status`.
type StatusOptions struct {
	*cli.Global
	Print *output.Flags
	// Exec runs alembic in an api pod (default: through the API server).
	Exec Execer
}

// NewStatusOptions returns the defaults.
func NewStatusOptions(g *cli.Global) *StatusOptions {
	return &StatusOptions{Global: g, Print: output.NewFlags()}
}

// NewCmdStatus returns `migrate status`.
func NewCmdStatus(g *cli.Global) *cobra.Command {
	o := NewStatusOptions(g)
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the database's revision, the image's heads, pending migrations, Jobs and the lock",
		Long: `Show the database's current revision (alembic current, from alembic_version), the heads
of the running image (alembic heads), the revisions still pending, any migration Job running
or failed, and the holder of the migration lock. alembic runs in a ready api pod (exec).
Exit codes: 0 up to date; 1 migrations pending, several heads (upgrade head would fail) or
the database at a revision the image does not know; 3 cluster unreachable or forbidden.`,
		Example: `  kubectl piyasa migrate status --env prod
  kubectl piyasa migrate status -n my-ns -o json`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	o.Print.AddFlags(cmd)
	fleetcmd.Add(cmd, g, NewCmdStatus)
	return cmd
}

// Complete resolves the environment and namespace.
func (o *StatusOptions) Complete(cmd *cobra.Command, args []string) error { return o.Global.Complete() }

// Validate checks -o.
func (o *StatusOptions) Validate() error {
	if err := o.Print.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	return nil
}

// GetStatus reads the migration state of g's namespace.
func GetStatus(ctx context.Context, g *cli.Global, ex Execer) (*Status, error) {
	cs, err := g.Clientset()
	if err != nil {
		return nil, err
	}
	if ex == nil {
		if ex, err = NewRemoteExecer(g); err != nil {
			return nil, err
		}
	}
	ns := g.Namespace
	st := &Status{Namespace: ns, Current: []string{}, Heads: []string{}, Pending: []string{}}
	if st.Lock, _, err = oplock.DescribeLock(ctx, cs, ns, g.Env.MigrationLease(), g.Now()); err != nil {
		return nil, err
	}
	jobs, _, err := ListJobs(ctx, cs, ns, g.Now())
	if err != nil {
		return nil, err
	}
	for i := range jobs {
		if jobs[i].State == "Running" && st.Running == nil {
			st.Running = &jobs[i]
		}
	}
	if len(jobs) > 0 && jobs[0].State == "Failed" {
		st.LastFailed = &jobs[0]
	}
	a, err := findAlembicPod(ctx, cs, ex, ns)
	if err != nil {
		return nil, err
	}
	st.Pod = a.pod
	out, err := a.run(ctx, "current")
	if err != nil {
		return nil, err
	}
	st.Current = append(st.Current, ParseRevisions(out)...)
	if out, err = a.run(ctx, "heads"); err != nil {
		return nil, err
	}
	st.Heads = append(st.Heads, ParseRevisions(out)...)
	if out, err = a.run(ctx, "history"); err != nil {
		return nil, err
	}
	hist, err := ParseHistory(out)
	if err != nil {
		return nil, err
	}
	st.MultipleHeads = len(st.Heads) > 1
	if st.MultipleHeads {
		st.Problems = append(st.Problems, fmt.Sprintf("the image has %d heads (%s): `alembic upgrade head` fails; merge them (alembic merge heads) in a new image",
			len(st.Heads), strings.Join(st.Heads, ", ")))
	}
	pending, err := Pending(hist, st.Current, st.Heads)
	if err != nil {
		st.Problems = append(st.Problems, err.Error())
	} else {
		st.Pending = append(st.Pending, pending...)
		if len(pending) > 0 {
			st.Problems = append(st.Problems, fmt.Sprintf("%d migration(s) pending: %s", len(pending), strings.Join(pending, ", ")))
		}
	}
	st.UpToDate = len(st.Problems) == 0
	return st, nil
}

// Run prints the status; exit 1 when not up to date.
func (o *StatusOptions) Run(ctx context.Context) error {
	st, err := GetStatus(ctx, o.Global, o.Exec)
	if err != nil {
		return err
	}
	if o.Print.Structured() {
		if err := o.Print.PrintDocument(o.Out, StatusKind, st); err != nil {
			return err
		}
	} else {
		printStatus(o.Global, st)
	}
	if !st.UpToDate {
		return cli.ExitCode(cli.ExitFailed)
	}
	return nil
}

func orNone(ids []string) string {
	if len(ids) == 0 {
		return "(none)"
	}
	return strings.Join(ids, ", ")
}

func printStatus(g *cli.Global, st *Status) {
	g.Printf("Namespace:  %s (alembic in pod %s)\n", st.Namespace, st.Pod)
	cur := orNone(st.Current)
	if len(st.Current) == 0 {
		cur = "(none: no migration applied)"
	}
	g.Printf("Current:    %s\n", cur)
	g.Printf("Heads:      %s\n", orNone(st.Heads))
	g.Printf("Pending:    %s\n", orNone(st.Pending))
	if st.Running != nil {
		g.Printf("Running:    Job %s (%s %s, by %s)\n", st.Running.Name, st.Running.Direction, st.Running.Target, st.Running.User)
	}
	if st.LastFailed != nil {
		g.Printf("Failed:     Job %s (%s %s): kubectl logs job/%s -n %s\n", st.LastFailed.Name, st.LastFailed.Direction, st.LastFailed.Target, st.LastFailed.Name, st.Namespace)
	}
	switch {
	case st.Lock.Held:
		g.Printf("Lock:       %s held: %s\n", st.Lock.Name, st.Lock.Describe())
	case st.Lock.Holder != "":
		g.Printf("Lock:       %s free (expired; last: %s)\n", st.Lock.Name, st.Lock.Describe())
	default:
		g.Printf("Lock:       %s free\n", st.Lock.Name)
	}
	if st.UpToDate {
		g.Printf("Status:     up to date\n")
	}
	for _, p := range st.Problems {
		g.Printf("Problem:    %s\n", p)
	}
}
