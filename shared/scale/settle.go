package scale

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// waitSettled waits, from a watch of the one workload, until it has exactly
// spec.replicas pods and all of them ready. `kubectl rollout status` reports
// a scale-down done while the surplus pods still terminate; a scale is only
// done when they are gone.
func waitSettled(ctx context.Context, cs kubernetes.Interface, ns string, w kube.Workload) (ready, desired int32, err error) {
	sel := fields.OneTermEqualSelector("metadata.name", w.Name).String()
	var lw *cache.ListWatch
	var obj runtime.Object
	switch w.Kind {
	case app.KindDeployment:
		api := cs.AppsV1().Deployments(ns)
		lw = &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				o.FieldSelector = sel
				return api.List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.FieldSelector = sel
				return api.Watch(ctx, o)
			},
		}
		obj = &appsv1.Deployment{}
	case app.KindStatefulSet:
		api := cs.AppsV1().StatefulSets(ns)
		lw = &cache.ListWatch{
			ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
				o.FieldSelector = sel
				return api.List(ctx, o)
			},
			WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
				o.FieldSelector = sel
				return api.Watch(ctx, o)
			},
		}
		obj = &appsv1.StatefulSet{}
	default:
		return 0, 0, fmt.Errorf("cannot wait for kind %s", w.Kind)
	}
	_, err = watchtools.UntilWithSync(ctx, lw, obj, nil, func(ev watch.Event) (bool, error) {
		var pods int32
		switch o := ev.Object.(type) {
		case *appsv1.Deployment:
			desired, pods, ready = replicasOf(o.Spec.Replicas), o.Status.Replicas, o.Status.ReadyReplicas
		case *appsv1.StatefulSet:
			desired, pods, ready = replicasOf(o.Spec.Replicas), o.Status.Replicas, o.Status.ReadyReplicas
		default:
			return false, nil
		}
		return pods == desired && ready == desired, nil
	})
	return ready, desired, err
}
