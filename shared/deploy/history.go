package deploy

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/table"
)

// HistoryKind is the kind of the `deploy history -o json|yaml` document.
const HistoryKind = "DeployHistory"

// History is the rollout history of api (whose revisions drive rollbacks),
// with the image the workers run.
type History struct {
	Namespace string     `json:"namespace"`
	Workload  string     `json:"workload"`
	Current   int64      `json:"currentRevision"`
	Revisions []Revision `json:"revisions"`
	// WorkerImage is the image of the worker StatefulSet's template.
	WorkerImage string `json:"workerImage"`
	// InSync is true when the workers run the api's image.
	InSync bool `json:"inSync"`
}

// Revision is one revision of the api Deployment.
type Revision struct {
	Revision    int64     `json:"revision"`
	Image       string    `json:"image"`
	ChangeCause string    `json:"changeCause,omitempty"`
	Created     time.Time `json:"created"`
	Current     bool      `json:"current"`
}

// HistoryOptions of `deploy history`.
type HistoryOptions struct {
	*cli.Global
	Print *output.Flags
}

// NewHistoryOptions returns the defaults.
func NewHistoryOptions(g *cli.Global) *HistoryOptions {
	return &HistoryOptions{Global: g, Print: output.NewFlags()}
}

// NewCmdHistory lists the api/worker revisions with images and change causes.
func NewCmdHistory(g *cli.Global) *cobra.Command {
	o := NewHistoryOptions(g)
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List the revisions of api and worker with their images and change causes",
		Args:  cobra.NoArgs,
		RunE:  cli.RunE(o),
	}
	o.Print.AddFlags(cmd)
	return cmd
}

// Complete resolves the environment and namespace.
func (o *HistoryOptions) Complete(*cobra.Command, []string) error { return o.Global.Complete() }

// Validate checks the output format.
func (o *HistoryOptions) Validate() error {
	if err := o.Print.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	return nil
}

// Run reads and prints the revisions.
func (o *HistoryOptions) Run(ctx context.Context) error {
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	h, _, _, err := apiHistory(ctx, cs, o.Env, o.Namespace)
	if err != nil {
		return err
	}
	if o.Print.Structured() {
		return o.Print.PrintDocument(o.Out, HistoryKind, h)
	}
	t := output.NewTable(o.Out, "REVISION", "IMAGE", "CHANGE-CAUSE", "AGE", "CURRENT").Long("CHANGE-CAUSE")
	short := t.Terminal().Width > 0 && !o.Print.IsWide()
	for _, r := range h.Revisions {
		cur := ""
		if r.Current {
			cur = "*"
		}
		cause := r.ChangeCause
		if cause == "" {
			cause = "<none>"
		}
		image := r.Image
		if short {
			image = table.ShortImage(image)
		}
		t.Append(strconv.FormatInt(r.Revision, 10), image, cause, cli.Age(o.Now(), r.Created), cur)
	}
	if err := t.Render(); err != nil {
		return err
	}
	sync := "same image as api"
	if !h.InSync {
		sync = "DIFFERENT image from api: run kubectl piyasa deploy update --image TAG"
	}
	fmt.Fprintf(o.Out, "\nworker runs %s (%s)\n", h.WorkerImage, sync)
	return nil
}
