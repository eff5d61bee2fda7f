package deploy

import (
	"context"
	"fmt"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// keepWorkerCount makes a redeploy keep the live worker count when the
// namespace is consistent (worker replicas = TOTAL_WORKERS, as `kubectl
// piyasa scale worker` leaves it): the rendered StatefulSet and ConfigMap get
// the live count, so that re-applying the configuration never reshards the
// workers. It returns a note for the user ("" when nothing is kept).
func keepWorkerCount(ctx context.Context, cs kubernetes.Interface, env app.Environment, ns string, objs []*unstructured.Unstructured) (string, error) {
	var sts, cm *unstructured.Unstructured
	for _, u := range objs {
		switch {
		case u.GetKind() == app.KindStatefulSet && workloadComponent(u) == app.Worker:
			sts = u
		case u.GetKind() == "ConfigMap" && configData([]*unstructured.Unstructured{u}, env) != nil:
			cm = u
		}
	}
	if sts == nil || cm == nil {
		return "", nil
	}
	live, err := cs.AppsV1().StatefulSets(ns).Get(ctx, sts.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	liveCM, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, cm.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	n := replicasOf(live.Spec.Replicas)
	if liveCM.Data[app.KeyTotalWorkers] != strconv.Itoa(int(n)) {
		return "", nil // inconsistent: the manifests' count repairs it
	}
	rendered, _, _ := unstructured.NestedInt64(sts.Object, "spec", "replicas")
	if int64(n) == rendered {
		return "", nil
	}
	if err := unstructured.SetNestedField(sts.Object, int64(n), "spec", "replicas"); err != nil {
		return "", err
	}
	if err := unstructured.SetNestedField(cm.Object, strconv.Itoa(int(n)), "data", app.KeyTotalWorkers); err != nil {
		return "", err
	}
	return fmt.Sprintf("keeping the running %d workers and TOTAL_WORKERS=%d (change both with: kubectl piyasa scale worker N)", n, n), nil
}

// workloadComponent names the component a workload object belongs to.
func workloadComponent(u *unstructured.Unstructured) string {
	labels, _, _ := unstructured.NestedStringMap(u.Object, "spec", "selector", "matchLabels")
	return app.ComponentNameForLabels(labels)
}
