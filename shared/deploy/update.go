package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/render"
)

// ChangeCauseAnnotation records why a workload changed (kubectl rollout history).
const ChangeCauseAnnotation = "kubernetes.io/change-cause"

// UpdateOptions of `deploy update`: the guide's Procedure 2.
type UpdateOptions struct {
	*cli.Global
	Image, FrontendImage string
	ChangeCause          string
	NoRollback           bool
	DryRun               string
	Wait                 bool
	Timeout              time.Duration

	apiRef, feRef string
}

// NewCmdUpdate moves api and worker (and optionally the frontend) to a new image.
func NewCmdUpdate(g *cli.Global, _ genericiooptions.IOStreams) *cobra.Command {
	o := &UpdateOptions{Global: g, DryRun: DryRunNone, Wait: true, Timeout: DefaultTimeout}
	cmd := &cobra.Command{
		Use:   "update --image TAG|IMAGE [--frontend-image TAG|IMAGE]",
		Short: "Move api and worker together to a new image, wait, and roll back automatically on failure",
		Long: `Set the image of the api Deployment and the worker StatefulSet together (the workers run
the api image), record a change-cause, and wait by watching. If a pod fails (CrashLoopBackOff,
OOMKilled, ImagePullBackOff ...) or the timeout runs out, both are rolled back to their
previous images (unless --no-rollback) and the command exits 1.`,
		Example: `  kubectl piyasa deploy update --image v2.0.0 -n piyasa-chatbot
  kubectl piyasa deploy update --image ghcr.io/me/api:2.0.1 --frontend-image 2.0.1 --env prod`,
		Args: cobra.NoArgs,
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
	cmd.Flags().StringVar(&o.Image, "image", "", "New image of api and worker: a TAG (v2.0.0) or a full IMAGE reference")
	cmd.Flags().StringVar(&o.FrontendImage, "frontend-image", "", "New image of the frontend: a TAG or a full IMAGE reference")
	cmd.Flags().StringVar(&o.ChangeCause, "change-cause", "", "Text recorded as kubernetes.io/change-cause (default: the command line's intent)")
	cmd.Flags().BoolVar(&o.NoRollback, "no-rollback", false, "Leave a failed update in place instead of rolling back")
	addDryRun(cmd, &o.DryRun)
	addWait(cmd, &o.Wait, &o.Timeout)
	return cmd
}

// Validate checks the image references.
func (o *UpdateOptions) Validate() error {
	if err := validateDryRun(o.DryRun); err != nil {
		return err
	}
	if o.Image == "" && o.FrontendImage == "" {
		return cli.Usagef("nothing to update: give --image and/or --frontend-image")
	}
	for _, x := range []struct {
		repo, ref string
		dst       *string
	}{{app.APIImage, o.Image, &o.apiRef}, {app.FrontendImage, o.FrontendImage, &o.feRef}} {
		if x.ref == "" {
			continue
		}
		img, err := render.ParseImage(x.repo, x.ref)
		if err != nil {
			return cli.Usagef("%v", err)
		}
		*x.dst = render.ImageRef(img)
	}
	return nil
}

// target is one workload container whose image is set.
type target struct {
	comp      app.Component
	name      string
	container string
	oldImage  string
	newImage  string
}

// Run sets the images, waits, and rolls back on failure.
func (o *UpdateOptions) Run(ctx context.Context) error {
	cs, err := o.Clientset()
	if err != nil {
		return err
	}
	var targets []target
	add := func(compName, ref string) error {
		comp, _ := app.LookupComponent(compName)
		t, err := currentTarget(ctx, cs, o.Namespace, o.Env, comp)
		if err != nil {
			return err
		}
		t.newImage = ref
		targets = append(targets, t)
		return nil
	}
	if o.apiRef != "" {
		if err := add(app.API, o.apiRef); err != nil {
			return err
		}
		if err := add(app.Worker, o.apiRef); err != nil {
			return err
		}
	}
	if o.feRef != "" {
		if err := add(app.Frontend, o.feRef); err != nil {
			return err
		}
	}
	cause := o.ChangeCause
	if cause == "" {
		cause = "kubectl piyasa deploy update"
		if o.apiRef != "" {
			cause += " --image " + o.apiRef
		}
		if o.feRef != "" {
			cause += " --frontend-image " + o.feRef
		}
	}
	if o.DryRun == DryRunClient {
		for _, t := range targets {
			fmt.Fprintf(o.Out, "%s/%s image %s -> %s (dry run)\n", kindLower(t.comp.Kind), t.name, t.oldImage, t.newImage)
		}
		return nil
	}
	for _, t := range targets {
		if err := setImage(ctx, cs, o.Namespace, t, t.newImage, cause, o.DryRun); err != nil {
			return err
		}
		fmt.Fprintf(o.Out, "%s/%s image %s -> %s%s\n", kindLower(t.comp.Kind), t.name, t.oldImage, t.newImage, dryRunSuffix(o.DryRun))
	}
	if o.DryRun != DryRunNone || !o.Wait {
		return nil
	}
	wcs, err := watchClientset(o.Global)
	if err != nil {
		return err
	}
	workloads := make([]kube.Workload, len(targets))
	for i, t := range targets {
		workloads[i] = kube.Workload{Component: t.comp.Name, Kind: t.comp.Kind, Name: t.name}
	}
	w := &Waiter{CS: wcs, NS: o.Namespace, Timeout: o.Timeout, Progress: o.ErrOut, Now: o.Now}
	_, werr := w.Wait(ctx, workloads)
	if werr == nil {
		fmt.Fprintf(o.Out, "update complete: %s\n", describeTargets(targets, false))
		return nil
	}
	if ctx.Err() != nil && !isTimeout(werr) {
		continueHint(o.ErrOut, o.Global)
		return ctx.Err()
	}
	if o.NoRollback {
		return waitErr(ctx, o.Global, werr)
	}
	o.Infof("\nUpdate failed: %v\nRolling back to the previous images...\n", werr)
	for _, t := range targets {
		if err := revertImage(ctx, cs, o.Namespace, t, "rollback: "+cause+" failed", false); err != nil {
			return cli.Failedf("update failed (%v) and the rollback failed too: %v", werr, err).WithHint("roll back by hand: kubectl piyasa deploy rollback -n %s", o.Namespace)
		}
		fmt.Fprintf(o.Out, "%s/%s image %s -> %s (rolled back)\n", kindLower(t.comp.Kind), t.name, t.newImage, t.oldImage)
	}
	rw := &Waiter{CS: wcs, NS: o.Namespace, Timeout: o.Timeout, Progress: o.ErrOut, Now: o.Now, NoFailFast: true}
	if _, err := rw.Wait(context.WithoutCancel(ctx), workloads); err != nil {
		return cli.Failedf("update failed (%v); rolled back, but the rollback is not ready either: %v", werr, err).WithHint("kubectl piyasa diagnose -n %s", o.Namespace)
	}
	return cli.Failedf("update failed and was rolled back to %s: %v", describeTargets(targets, true), werr).
		WithHint("the previous images run again; fix the image and retry")
}

func isTimeout(err error) bool { _, ok := err.(*kube.TimeoutError); return ok }

func describeTargets(ts []target, old bool) string {
	s := ""
	for i, t := range ts {
		if i > 0 {
			s += ", "
		}
		img := t.newImage
		if old {
			img = t.oldImage
		}
		s += t.comp.Name + " " + img
	}
	return s
}

// currentTarget reads the workload of a component and its container.
func currentTarget(ctx context.Context, cs kubernetes.Interface, ns string, env app.Environment, comp app.Component) (target, error) {
	t := target{comp: comp, name: env.WorkloadName(comp)}
	var spec *corev1.PodSpec
	switch comp.Kind {
	case app.KindDeployment:
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, t.name, metav1.GetOptions{})
		if err != nil {
			return t, notDeployed(err, comp, t.name, ns)
		}
		spec = &d.Spec.Template.Spec
	default:
		s, err := cs.AppsV1().StatefulSets(ns).Get(ctx, t.name, metav1.GetOptions{})
		if err != nil {
			return t, notDeployed(err, comp, t.name, ns)
		}
		spec = &s.Spec.Template.Spec
	}
	c := containerOf(spec, comp.Name)
	if c == nil {
		return t, cli.Failedf("%s/%s has no containers", kindLower(comp.Kind), t.name)
	}
	t.container, t.oldImage = c.Name, c.Image
	return t, nil
}

// containerOf returns the container named like the component, else the first.
func containerOf(spec *corev1.PodSpec, name string) *corev1.Container {
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return &spec.Containers[i]
		}
	}
	if len(spec.Containers) > 0 {
		return &spec.Containers[0]
	}
	return nil
}

func notDeployed(err error, comp app.Component, name, ns string) error {
	if apierrors.IsNotFound(err) {
		return cli.Failedf("%s/%s not found in namespace %s", kindLower(comp.Kind), name, ns).
			WithHint("deploy the app first: kubectl piyasa deploy --env ENV -n %s", ns)
	}
	return err
}

// setImage patches one container's image and records the change cause on the
// workload (a Deployment copies it to the new ReplicaSet's revision).
func setImage(ctx context.Context, cs kubernetes.Interface, ns string, t target, image, cause, dryRun string) error {
	patch := map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{ChangeCauseAnnotation: cause}},
		"spec": map[string]any{"template": map[string]any{
			"metadata": map[string]any{"annotations": map[string]string{ChangeCauseAnnotation: cause}},
			"spec":     map[string]any{"containers": []map[string]string{{"name": t.container, "image": image}}},
		}},
	}
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: app.FieldManager, DryRun: dryRunOpt(dryRun)}
	switch t.comp.Kind {
	case app.KindDeployment:
		_, err = cs.AppsV1().Deployments(ns).Patch(ctx, t.name, types.StrategicMergePatchType, data, opts)
	default:
		_, err = cs.AppsV1().StatefulSets(ns).Patch(ctx, t.name, types.StrategicMergePatchType, data, opts)
	}
	if err != nil {
		return fmt.Errorf("set image of %s/%s: %w", kindLower(t.comp.Kind), t.name, err)
	}
	return nil
}

// revertImage sets the old image back. For a StatefulSet it also deletes the
// pods of the failed revision, which the controller would otherwise leave
// broken (the documented "forced rollback" of StatefulSets).
// With onlyUnfinished, pods are deleted only when the rollout to the failed
// revision had not completed.
func revertImage(ctx context.Context, cs kubernetes.Interface, ns string, t target, cause string, onlyUnfinished bool) error {
	ctx = context.WithoutCancel(ctx)
	var badRev string
	var sel *metav1.LabelSelector
	if t.comp.Kind == app.KindStatefulSet {
		s, err := cs.AppsV1().StatefulSets(ns).Get(ctx, t.name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		badRev, sel = s.Status.UpdateRevision, s.Spec.Selector
		if onlyUnfinished && s.Status.CurrentRevision == s.Status.UpdateRevision {
			badRev = ""
		}
	}
	if err := setImage(ctx, cs, ns, t, t.oldImage, cause, DryRunNone); err != nil {
		return err
	}
	if badRev == "" || sel == nil {
		return nil
	}
	return deleteRevisionPods(ctx, cs, ns, sel, badRev)
}

func deleteRevisionPods(ctx context.Context, cs kubernetes.Interface, ns string, sel *metav1.LabelSelector, rev string) error {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return err
	}
	req, err := labels.NewRequirement(appsv1.ControllerRevisionHashLabelKey, "=", []string{rev})
	if err != nil {
		return err
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: s.Add(*req).String()})
	if err != nil {
		return err
	}
	for _, p := range pods.Items {
		if err := cs.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}
