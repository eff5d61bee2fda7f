package kube

import (
	"fmt"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kubectl/pkg/polymorphichelpers"
)

func i32(v int32) *int32 { return &v }

// rolloutCases are workloads in many states: every branch of kubectl's
// status viewers, and the boundaries between them.
func rolloutCases() []runtime.Object {
	var objs []runtime.Object
	counts := []int32{0, 1, 2, 3}
	for _, gen := range []int64{1, 2} {
		for _, spec := range []*int32{nil, i32(0), i32(2), i32(3)} {
			for _, upd := range counts {
				for _, total := range counts {
					for _, avail := range counts {
						for _, cond := range []string{"", "NewReplicaSetAvailable", progressDeadlineExceeded} {
							for _, rev := range []string{"", "2", "x"} {
								d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "api", Generation: gen}}
								if rev != "" {
									d.Annotations = map[string]string{DeploymentRevisionAnnotation: rev}
								}
								d.Spec.Replicas = spec
								d.Status = appsv1.DeploymentStatus{ObservedGeneration: 2, UpdatedReplicas: upd, Replicas: total, AvailableReplicas: avail}
								if gen == 2 && rev == "" {
									d.Status.ObservedGeneration = 1
								}
								if cond != "" {
									d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentAvailable, Reason: progressDeadlineExceeded}, {Type: appsv1.DeploymentProgressing, Reason: cond}}
								}
								objs = append(objs, d)
							}
						}
					}
				}
			}
		}
	}
	for _, strategy := range []appsv1.StatefulSetUpdateStrategyType{appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType} {
		for _, observed := range []int64{0, 1, 2} {
			for _, spec := range []*int32{nil, i32(3)} {
				for _, ready := range counts {
					for _, upd := range counts {
						for _, partition := range []*int32{nil, i32(0), i32(1)} {
							for _, ru := range []bool{false, true} {
								for _, revs := range [][2]string{{"r1", "r1"}, {"r1", "r2"}} {
									s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "worker", Generation: 2}}
									s.Spec.Replicas = spec
									s.Spec.UpdateStrategy.Type = strategy
									if ru {
										s.Spec.UpdateStrategy.RollingUpdate = &appsv1.RollingUpdateStatefulSetStrategy{Partition: partition}
									}
									s.Status = appsv1.StatefulSetStatus{ObservedGeneration: observed, ReadyReplicas: ready, UpdatedReplicas: upd, CurrentReplicas: 3,
										CurrentRevision: revs[0], UpdateRevision: revs[1]}
									objs = append(objs, s)
								}
							}
						}
					}
				}
			}
		}
	}
	for _, strategy := range []appsv1.DaemonSetUpdateStrategyType{appsv1.RollingUpdateDaemonSetStrategyType, appsv1.OnDeleteDaemonSetStrategyType} {
		for _, observed := range []int64{1, 2} {
			for _, desired := range counts {
				for _, upd := range counts {
					for _, avail := range counts {
						ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "agent", Generation: 2}}
						ds.Spec.UpdateStrategy.Type = strategy
						ds.Status = appsv1.DaemonSetStatus{ObservedGeneration: observed, DesiredNumberScheduled: desired, UpdatedNumberScheduled: upd, NumberAvailable: avail}
						objs = append(objs, ds)
					}
				}
			}
		}
	}
	return objs
}

func TestRolloutStatusMatchesKubectl(t *testing.T) {
	kinds := map[string]schema.GroupKind{}
	n := 0
	for _, obj := range rolloutCases() {
		var kind string
		switch obj.(type) {
		case *appsv1.Deployment:
			kind = "Deployment"
		case *appsv1.StatefulSet:
			kind = "StatefulSet"
		default:
			kind = "DaemonSet"
		}
		gk := schema.GroupKind{Group: "apps", Kind: kind}
		kinds[kind] = gk
		u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
		if err != nil {
			t.Fatal(err)
		}
		want, err := polymorphichelpers.StatusViewerFor(gk)
		if err != nil {
			t.Fatal(err)
		}
		got, err := StatusViewerFor(gk)
		if err != nil {
			t.Fatal(err)
		}
		for _, revision := range []int64{0, 2, 3} {
			wm, wd, we := want.Status(&unstructured.Unstructured{Object: u}, revision)
			gm, gd, ge := got.Status(&unstructured.Unstructured{Object: u}, revision)
			tm, td, te := RolloutStatus(obj, revision)
			if gm != wm || gd != wd || fmt.Sprint(ge) != fmt.Sprint(we) || tm != wm || td != wd || fmt.Sprint(te) != fmt.Sprint(we) {
				t.Fatalf("%s %+v revision %d:\n got %q %v %v\nwant %q %v %v (kubectl)", kind, obj, revision, gm, gd, ge, wm, wd, we)
			}
			n++
		}
	}
	for _, gk := range []schema.GroupKind{{Group: "extensions", Kind: "Deployment"}, {Group: "extensions", Kind: "DaemonSet"}, {Group: "apps", Kind: "ReplicaSet"}, {Group: "batch", Kind: "Job"}} {
		_, werr := polymorphichelpers.StatusViewerFor(gk)
		_, gerr := StatusViewerFor(gk)
		if fmt.Sprint(werr) != fmt.Sprint(gerr) {
			t.Errorf("%v: got %v, want %v", gk, gerr, werr)
		}
	}
	if len(kinds) != 3 || n < 10000 {
		t.Fatalf("only %d cases of %d kinds", n, len(kinds))
	}
}
