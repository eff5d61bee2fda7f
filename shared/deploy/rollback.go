package deploy

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// RollbackOptions of `deploy rollback`.
type RollbackOptions struct {
	*cli.Global
	ToRevision int64
	DryRun     cli.DryRun
	waitFlags
}

// NewRollbackOptions returns the defaults.
func NewRollbackOptions(g *cli.Global) *RollbackOptions {
	return &RollbackOptions{Global: g, DryRun: cli.DryRunNone, waitFlags: defaultWait()}
}

// NewCmdRollback rolls api and worker back together.
func NewCmdRollback(g *cli.Global) *cobra.Command {
	o := NewRollbackOptions(g)
	cmd := &cobra.Command{
		Use:   "rollback [--to-revision N]",
		Short: "Roll api and worker back together to the previous (or a given) api revision",
		Long: `Restore the api Deployment's pod template of revision N (default: the previous one), as
kubectl rollout undo does, and move the worker StatefulSet to the same image, then wait.
Revisions are those of 'kubectl piyasa deploy history'.`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	cmd.Flags().Int64Var(&o.ToRevision, "to-revision", 0, "The api revision to go back to (0: the previous one)")
	cli.AddDryRunFlag(cmd)
	o.waitFlags.add(cmd)
	return cmd
}

// Complete resolves the environment, namespace and --dry-run.
func (o *RollbackOptions) Complete(cmd *cobra.Command, _ []string) error {
	if err := o.Global.Complete(); err != nil {
		return err
	}
	var err error
	o.DryRun, err = completeDryRun(cmd, o.Global)
	return err
}

// Validate checks the flags (no I/O).
func (o *RollbackOptions) Validate() error {
	if o.ToRevision < 0 {
		return cli.Usagef("--to-revision must be 0 (previous) or a revision number")
	}
	return o.waitFlags.validate()
}

// Run rolls back.
func (o *RollbackOptions) Run(ctx context.Context) error {
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	h, d, byRev, err := apiHistory(ctx, cs, o.Env, o.Namespace)
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
	rs := byRev[rev]
	if rs == nil {
		return cli.Usagef("deployment/%s has no revision %d", d.Name, rev).WithHint("see: kubectl piyasa deploy history -n %s", o.Namespace)
	}
	image := ""
	if c := containerOf(&rs.Spec.Template.Spec, app.API); c != nil {
		image = c.Image
	}
	worker, _ := app.LookupComponent(app.Worker)
	wt, err := currentTarget(ctx, cs, o.Namespace, o.Env, worker)
	if err != nil {
		return err
	}
	suffix := o.DryRun.Suffix()
	if o.DryRun.Client() {
		fmt.Fprintf(o.Out, "deployment/%s rolled back to revision %d (%s)%s\n", d.Name, rev, image, suffix)
		fmt.Fprintf(o.Out, "statefulset/%s image %s -> %s%s\n", wt.name, wt.oldImage, image, suffix)
		return nil
	}
	cause := fmt.Sprintf("kubectl piyasa deploy rollback --to-revision %d", rev)
	msg, err := rollbackDeployment(ctx, cs, d, rs, cause, o.DryRun)
	if err != nil {
		return fmt.Errorf("roll back deployment/%s: %w", d.Name, err)
	}
	fmt.Fprintf(o.Out, "deployment/%s %s to revision %d (%s)%s\n", d.Name, msg, rev, image, suffix)
	if wt.oldImage != image {
		if o.DryRun == cli.DryRunNone {
			// Pods of an unfinished (failed) worker revision are replaced by
			// hand, as a StatefulSet's forced rollback needs.
			back := wt
			back.newImage, back.oldImage = wt.oldImage, image
			if err := revertImage(ctx, cs, o.Namespace, back, cause, true); err != nil {
				return fmt.Errorf("roll back statefulset/%s: %w (deployment/%s is rolled back)", wt.name, err, d.Name)
			}
		} else if err := setImage(ctx, cs, o.Namespace, wt, image, cause, o.DryRun); err != nil {
			return err
		}
	}
	fmt.Fprintf(o.Out, "statefulset/%s image %s -> %s%s\n", wt.name, wt.oldImage, image, suffix)
	if o.DryRun.Active() || !o.Wait {
		return nil
	}
	wcs, err := o.Global.WatchClientset()
	if err != nil {
		return err
	}
	// Fail-fast looks at the pods of the revision rolled back to only: those
	// of the revision rolled back from may fail until they are replaced.
	w := &Waiter{CS: wcs, NS: o.Namespace, Timeout: o.Timeout, Progress: o.ErrOut, Now: o.Now}
	if _, err := w.Wait(ctx, []kube.Workload{
		{Component: app.API, Kind: app.KindDeployment, Name: d.Name},
		{Component: app.Worker, Kind: app.KindStatefulSet, Name: wt.name},
	}); err != nil {
		if ctx.Err() != nil && !isTimeout(err) {
			return cli.Interruptedf("interrupted while waiting for the rollback: api and worker are set to %s (revision %d) and roll out in the cluster", image, rev).
				WithHint("follow it with: kubectl piyasa deploy status -n %s", o.Namespace)
		}
		return waitErr(ctx, o.Global, err)
	}
	fmt.Fprintf(o.Out, "rollback complete: api and worker run %s\n", image)
	return nil
}

// rollbackDeployment restores the pod template of a ReplicaSet on its
// Deployment, as `kubectl rollout undo` does: the template without the
// pod-template-hash label, by a JSON patch that also records the change
// cause. It returns "rolled back", or "skipped rollback" when the template
// already matches.
func rollbackDeployment(ctx context.Context, cs kubernetes.Interface, d *appsv1.Deployment, rs *appsv1.ReplicaSet, cause string, dryRun cli.DryRun) (string, error) {
	tmpl := rs.Spec.Template.DeepCopy()
	delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	if apiequality.Semantic.DeepEqual(&d.Spec.Template, tmpl) {
		return "skipped rollback (the current template already matches)", nil
	}
	ops := []map[string]any{
		{"op": "replace", "path": "/spec/template", "value": tmpl},
	}
	if d.Annotations == nil {
		ops = append(ops, map[string]any{"op": "add", "path": "/metadata/annotations", "value": map[string]string{kube.ChangeCauseAnnotation: cause}})
	} else {
		ops = append(ops, map[string]any{"op": "add", "path": "/metadata/annotations/kubernetes.io~1change-cause", "value": cause})
	}
	data, err := json.Marshal(ops)
	if err != nil {
		return "", err
	}
	_, err = cs.AppsV1().Deployments(d.Namespace).Patch(ctx, d.Name, types.JSONPatchType, data,
		metav1.PatchOptions{FieldManager: app.FieldManager, DryRun: dryRun.Server()})
	if err != nil {
		return "", err
	}
	return "rolled back", nil
}
