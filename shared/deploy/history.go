package deploy

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/polymorphichelpers"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// RevisionAnnotation is the Deployment controller's revision number.
const RevisionAnnotation = "deployment.kubernetes.io/revision"

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

// apiHistory reads the api Deployment's ReplicaSets (one LIST).
func apiHistory(ctx context.Context, cs kubernetes.Interface, env app.Environment, ns string) (*History, *appsv1.Deployment, error) {
	api, _ := app.LookupComponent(app.API)
	name := env.WorkloadName(api)
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, notDeployed(err, api, name, ns)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, nil, err
	}
	rss, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, nil, err
	}
	h := &History{Namespace: ns, Workload: name}
	h.Current, _ = strconv.ParseInt(d.Annotations[RevisionAnnotation], 10, 64)
	for _, rs := range rss.Items {
		if !metav1.IsControlledBy(&rs, d) {
			continue
		}
		rev, err := strconv.ParseInt(rs.Annotations[RevisionAnnotation], 10, 64)
		if err != nil {
			continue
		}
		img := ""
		if c := containerOf(&rs.Spec.Template.Spec, app.API); c != nil {
			img = c.Image
		}
		h.Revisions = append(h.Revisions, Revision{Revision: rev, Image: img, ChangeCause: rs.Annotations[ChangeCauseAnnotation],
			Created: rs.CreationTimestamp.UTC(), Current: rev == h.Current})
	}
	sort.Slice(h.Revisions, func(i, j int) bool { return h.Revisions[i].Revision < h.Revisions[j].Revision })
	worker, _ := app.LookupComponent(app.Worker)
	if s, err := cs.AppsV1().StatefulSets(ns).Get(ctx, env.WorkloadName(worker), metav1.GetOptions{}); err == nil {
		if c := containerOf(&s.Spec.Template.Spec, app.Worker); c != nil {
			h.WorkerImage = c.Image
		}
	}
	if c := containerOf(&d.Spec.Template.Spec, app.API); c != nil {
		h.InSync = c.Image == h.WorkerImage
	}
	return h, d, nil
}

// HistoryOptions of `deploy history`.
type HistoryOptions struct {
	*cli.Global
	Print *output.Flags
}

// NewCmdHistory lists the api/worker revisions with images and change causes.
func NewCmdHistory(g *cli.Global, _ genericiooptions.IOStreams) *cobra.Command {
	o := &HistoryOptions{Global: g, Print: output.NewFlags()}
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List the revisions of api and worker with their images and change causes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.Print.AddFlags(cmd)
	return cmd
}

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
	h, _, err := apiHistory(ctx, cs, o.Env, o.Namespace)
	if err != nil {
		return err
	}
	if o.Print.Structured() {
		return o.Print.PrintDocument(o.Out, HistoryKind, h)
	}
	t := output.NewTable(o.Out, "REVISION", "IMAGE", "CHANGE-CAUSE", "AGE", "CURRENT")
	for _, r := range h.Revisions {
		cur := ""
		if r.Current {
			cur = "*"
		}
		cause := r.ChangeCause
		if cause == "" {
			cause = "<none>"
		}
		t.Append(strconv.FormatInt(r.Revision, 10), r.Image, cause, age(o.Now(), metav1.Time{Time: r.Created}), cur)
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

// RollbackOptions of `deploy rollback`.
type RollbackOptions struct {
	*cli.Global
	ToRevision int64
	DryRun     string
	Wait       bool
	Timeout    time.Duration
}

// NewCmdRollback rolls api and worker back together.
func NewCmdRollback(g *cli.Global, _ genericiooptions.IOStreams) *cobra.Command {
	o := &RollbackOptions{Global: g, DryRun: DryRunNone, Wait: true, Timeout: DefaultTimeout}
	cmd := &cobra.Command{
		Use:   "rollback [--to-revision N]",
		Short: "Roll api and worker back together to the previous (or a given) api revision",
		Long: `Restore the api Deployment's pod template of revision N (default: the previous one), as
kubectl rollout undo does, and move the worker StatefulSet to the same image, then wait.
Revisions are those of 'kubectl piyasa deploy history'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := validateDryRun(o.DryRun); err != nil {
				return err
			}
			if o.ToRevision < 0 {
				return cli.Usagef("--to-revision must be 0 (previous) or a revision number")
			}
			return o.Run(cmd.Context())
		},
	}
	cmd.Flags().Int64Var(&o.ToRevision, "to-revision", 0, "The api revision to go back to (0: the previous one)")
	addDryRun(cmd, &o.DryRun)
	addWait(cmd, &o.Wait, &o.Timeout)
	return cmd
}

// Run rolls back.
func (o *RollbackOptions) Run(ctx context.Context) error {
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	h, d, err := apiHistory(ctx, cs, o.Env, o.Namespace)
	if err != nil {
		return err
	}
	rev := o.ToRevision
	if rev == 0 {
		for _, r := range h.Revisions {
			if r.Revision < h.Current && r.Revision > rev {
				rev = r.Revision
			}
		}
		if rev == 0 {
			return cli.Failedf("deployment/%s has no previous revision to roll back to", d.Name).WithHint("see: kubectl piyasa deploy history -n %s", o.Namespace)
		}
	}
	var image string
	for _, r := range h.Revisions {
		if r.Revision == rev {
			image = r.Image
		}
	}
	if image == "" {
		return cli.Usagef("deployment/%s has no revision %d", d.Name, rev).WithHint("see: kubectl piyasa deploy history -n %s", o.Namespace)
	}
	worker, _ := app.LookupComponent(app.Worker)
	wt, err := currentTarget(ctx, cs, o.Namespace, o.Env, worker)
	if err != nil {
		return err
	}
	if o.DryRun == DryRunClient {
		fmt.Fprintf(o.Out, "deployment/%s rolled back to revision %d (%s) (dry run)\n", d.Name, rev, image)
		fmt.Fprintf(o.Out, "statefulset/%s image %s -> %s (dry run)\n", wt.name, wt.oldImage, image)
		return nil
	}
	rb, err := polymorphichelpers.RollbackerFor(schema.GroupKind{Group: "apps", Kind: "Deployment"}, cs)
	if err != nil {
		return err
	}
	strategy := cmdutil.DryRunNone
	if o.DryRun == DryRunServer {
		strategy = cmdutil.DryRunServer
	}
	msg, err := rb.Rollback(d, nil, rev, strategy)
	if err != nil {
		return cli.Failedf("roll back deployment/%s: %v", d.Name, err)
	}
	fmt.Fprintf(o.Out, "deployment/%s %s to revision %d (%s)%s\n", d.Name, msg, rev, image, dryRunSuffix(o.DryRun))
	cause := fmt.Sprintf("kubectl piyasa deploy rollback --to-revision %d", rev)
	if wt.oldImage != image {
		if o.DryRun == DryRunNone {
			// Pods of an unfinished (failed) worker revision are replaced by
			// hand, as a StatefulSet's forced rollback needs.
			wt.newImage, wt.oldImage = wt.oldImage, image
			if err := revertImage(ctx, cs, o.Namespace, wt, cause, true); err != nil {
				return err
			}
			wt.oldImage = wt.newImage
		} else if err := setImage(ctx, cs, o.Namespace, wt, image, cause, o.DryRun); err != nil {
			return err
		}
	}
	fmt.Fprintf(o.Out, "statefulset/%s image %s -> %s%s\n", wt.name, wt.oldImage, image, dryRunSuffix(o.DryRun))
	if o.DryRun != DryRunNone || !o.Wait {
		return nil
	}
	wcs, err := watchClientset(o.Global)
	if err != nil {
		return err
	}
	// No fail-fast: the pods of the revision rolled back from may still be
	// failing until they are replaced.
	w := &Waiter{CS: wcs, NS: o.Namespace, Timeout: o.Timeout, Progress: o.ErrOut, Now: o.Now, NoFailFast: true}
	if _, err := w.Wait(ctx, []kube.Workload{
		{Component: app.API, Kind: app.KindDeployment, Name: d.Name},
		{Component: app.Worker, Kind: app.KindStatefulSet, Name: wt.name},
	}); err != nil {
		return waitErr(ctx, o.Global, err)
	}
	fmt.Fprintf(o.Out, "rollback complete: api and worker run %s\n", image)
	return nil
}
