package deploy

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// target is one workload container whose image is set.
type target struct {
	comp      app.Component
	name      string
	container string
	oldImage  string
	newImage  string
}

// describeTargets lists the components and their new (or old) images.
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
	return kube.NotFound(err, kindLower(comp.Kind)+"/"+name, ns)
}

// setImage patches one container's image and records the change cause on the
// workload (a Deployment copies it to the new ReplicaSet's revision).
func setImage(ctx context.Context, cs kubernetes.Interface, ns string, t target, image, cause string, dryRun cli.DryRun) error {
	patch := map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{kube.ChangeCauseAnnotation: cause}},
		"spec": map[string]any{"template": map[string]any{
			"metadata": map[string]any{"annotations": map[string]string{kube.ChangeCauseAnnotation: cause}},
			"spec":     map[string]any{"containers": []map[string]string{{"name": t.container, "image": image}}},
		}},
	}
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	opts := metav1.PatchOptions{FieldManager: app.FieldManager, DryRun: dryRun.Server()}
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
	// Not cut short by a signal: a rollback half done would leave api and
	// worker on different images. A few short requests, bounded.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), patchTimeout)
	defer cancel()
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
	if err := setImage(ctx, cs, ns, t, t.oldImage, cause, cli.DryRunNone); err != nil {
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
