package migrate

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// History is the document of `migrate history`: newest first, as alembic prints it.
type History struct {
	Namespace string     `json:"namespace"`
	Pod       string     `json:"pod"`
	Current   []string   `json:"current"`
	Revisions []Revision `json:"revisions"`
}

// HistoryOptions are the options of `migrate history`.
type HistoryOptions struct {
	*cli.Global
	Print *output.Flags
	Exec  Execer
}

// NewCmdHistory returns `migrate history`.
func NewCmdHistory(g *cli.Global) *cobra.Command {
	o := &HistoryOptions{Global: g, Print: output.NewFlags()}
	cmd := &cobra.Command{
		Use:   "history",
		Short: "Show the running image's migrations (alembic history) with the current revision marked",
		Long: `Show 'alembic history' of the running api image, newest first, with the database's
current revision marked. alembic runs in a ready api pod (exec).`,
		Example: `  kubectl piyasa migrate history --env dev
  kubectl piyasa migrate history -o json`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	o.Print.AddFlags(cmd)
	return cmd
}

// Complete resolves the environment and namespace.
func (o *HistoryOptions) Complete(cmd *cobra.Command, args []string) error {
	return o.Global.Complete()
}

// Validate checks -o.
func (o *HistoryOptions) Validate() error {
	if err := o.Print.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	return nil
}

// Run prints the history.
func (o *HistoryOptions) Run(ctx context.Context) error {
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	ex := o.Exec
	if ex == nil {
		if ex, err = NewRemoteExecer(o.Global); err != nil {
			return err
		}
	}
	a, err := findAlembicPod(ctx, cs, ex, o.Namespace)
	if err != nil {
		return err
	}
	out, err := a.run(ctx, "current")
	if err != nil {
		return err
	}
	h := &History{Namespace: o.Namespace, Pod: a.pod, Current: append([]string{}, ParseRevisions(out)...)}
	if out, err = a.run(ctx, "history"); err != nil {
		return err
	}
	if h.Revisions, err = ParseHistory(out); err != nil {
		return err
	}
	for i := range h.Revisions {
		for _, c := range h.Current {
			if h.Revisions[i].ID == c {
				h.Revisions[i].Current = true
			}
		}
	}
	if o.Print.Structured() {
		return o.Print.PrintDocument(o.Out, HistoryKind, h)
	}
	t := output.NewTable(o.Out, "REVISION", "DOWN", "TAGS", "CURRENT", "MESSAGE")
	for _, r := range h.Revisions {
		down := strings.Join(r.Down, ",")
		if down == "" {
			down = "<base>"
		}
		cur := ""
		if r.Current {
			cur = "<- current"
		}
		t.Append(r.ID, down, strings.Join(r.Tags, ","), cur, r.Message)
	}
	return t.Render()
}

func fmtTime(t *time.Time) string {
	if t == nil {
		return "?"
	}
	return t.UTC().Format(time.RFC3339)
}
