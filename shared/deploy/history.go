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
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/output"
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

// apiHistory reads the api Deployment's ReplicaSets (one LIST); it returns
// the ReplicaSet of each revision too.
func apiHistory(ctx context.Context, cs kubernetes.Interface, env app.Environment, ns string) (*History, *appsv1.Deployment, map[int64]*appsv1.ReplicaSet, error) {
	api, _ := app.LookupComponent(app.API)
	name := env.WorkloadName(api)
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, nil, notDeployed(err, api, name, ns)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, nil, nil, err
	}
	rss, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, nil, nil, err
	}
	h := &History{Namespace: ns, Workload: name}
	byRev := map[int64]*appsv1.ReplicaSet{}
	h.Current, _ = strconv.ParseInt(d.Annotations[kube.RevisionAnnotation], 10, 64)
	for i, rs := range rss.Items {
		if !metav1.IsControlledBy(&rs, d) {
			continue
		}
		rev, err := strconv.ParseInt(rs.Annotations[kube.RevisionAnnotation], 10, 64)
		if err != nil {
			continue
		}
		byRev[rev] = &rss.Items[i]
		img := ""
		if c := containerOf(&rs.Spec.Template.Spec, app.API); c != nil {
			img = c.Image
		}
		h.Revisions = append(h.Revisions, Revision{Revision: rev, Image: img, ChangeCause: rs.Annotations[kube.ChangeCauseAnnotation],
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
	return h, d, byRev, nil
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
