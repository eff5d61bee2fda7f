package kube

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// SetReplicas sets a Deployment's or StatefulSet's spec.replicas with a merge
// patch (no conflict with the controllers' status updates), as the suite's
// field manager.
func SetReplicas(ctx context.Context, cs kubernetes.Interface, ns string, w Workload, n int32) error {
	patch := []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, n))
	opts := metav1.PatchOptions{FieldManager: app.FieldManager}
	var err error
	if w.Kind == app.KindStatefulSet {
		_, err = cs.AppsV1().StatefulSets(ns).Patch(ctx, w.Name, types.MergePatchType, patch, opts)
	} else {
		_, err = cs.AppsV1().Deployments(ns).Patch(ctx, w.Name, types.MergePatchType, patch, opts)
	}
	return err
}
