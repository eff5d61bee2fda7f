package kube

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/polymorphichelpers"
)

func podTemplate(image, hash string) corev1.PodTemplateSpec {
	labels := map[string]string{"app": "api"}
	if hash != "" {
		labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{"kubectl.kubernetes.io/restartedAt": "t"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: image}}},
	}
}

// rollbackWorld is a Deployment at revision 3 (image v3) with the
// ReplicaSets of revisions 1 to 3, one of another Deployment and one orphan.
func rollbackWorld(paused bool) []runtime.Object {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "ns", UID: "d-uid", Annotations: map[string]string{
			DeploymentRevisionAnnotation: "3", corev1.LastAppliedConfigAnnotation: "{}", "team": "chat"}},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}}, Template: podTemplate("api:v3", ""), Paused: paused},
	}
	objs := []runtime.Object{d}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ctrl := true
	for i, image := range []string{"api:v1", "api:v2", "api:v3"} {
		rs := &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("api-%d", i+1), Namespace: "ns", UID: types.UID(fmt.Sprintf("rs-%d", i+1)),
			Labels:            map[string]string{"app": "api"},
			CreationTimestamp: metav1.NewTime(t0.Add(time.Duration(i) * time.Hour)),
			Annotations:       map[string]string{DeploymentRevisionAnnotation: fmt.Sprint(i + 1), "kubernetes.io/change-cause": "deploy " + image, "deployment.kubernetes.io/desired-replicas": "2"},
			OwnerReferences:   []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "api", UID: "d-uid", Controller: &ctrl}},
		}, Spec: appsv1.ReplicaSetSpec{Replicas: i32(1), Template: podTemplate(image, fmt.Sprintf("h%d", i+1))}}
		objs = append(objs, rs)
	}
	other := objs[1].DeepCopyObject().(*appsv1.ReplicaSet)
	other.Name, other.UID, other.OwnerReferences[0].UID = "other-9", "rs-9", "other-uid"
	other.Annotations = map[string]string{DeploymentRevisionAnnotation: "9"}
	orphan := objs[2].DeepCopyObject().(*appsv1.ReplicaSet)
	orphan.Name, orphan.UID, orphan.OwnerReferences = "orphan-8", "rs-8", nil
	orphan.Annotations = map[string]string{DeploymentRevisionAnnotation: "8"}
	return append(objs, other, orphan)
}

type rollbackResult struct {
	Msg, Err   string
	Deployment *appsv1.Deployment
	Patches    []k8stesting.PatchActionImpl
}

func runRollback(t *testing.T, rollback func(*fake.Clientset, *appsv1.Deployment) (string, error), paused bool) rollbackResult {
	t.Helper()
	cs := fake.NewClientset(rollbackWorld(paused)...)
	d, err := cs.AppsV1().Deployments("ns").Get(context.Background(), "api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := rollback(cs, d)
	res := rollbackResult{Msg: msg, Err: fmt.Sprint(err)}
	res.Deployment, _ = cs.AppsV1().Deployments("ns").Get(context.Background(), "api", metav1.GetOptions{})
	for _, a := range cs.Actions() {
		if p, ok := a.(k8stesting.PatchActionImpl); ok {
			res.Patches = append(res.Patches, p)
		}
	}
	return res
}

func TestRollbackMatchesKubectl(t *testing.T) {
	gk := schema.GroupKind{Group: "apps", Kind: "Deployment"}
	strategies := map[DryRunStrategy]cmdutil.DryRunStrategy{DryRunNone: cmdutil.DryRunNone, DryRunServer: cmdutil.DryRunServer}
	for _, paused := range []bool{false, true} {
		for _, rev := range []int64{0, 1, 2, 3, 5, -1} {
			for ours, theirs := range strategies {
				got := runRollback(t, func(cs *fake.Clientset, d *appsv1.Deployment) (string, error) {
					rb, err := RollbackerFor(gk, cs)
					if err != nil {
						t.Fatal(err)
					}
					return rb.Rollback(d, nil, rev, ours)
				}, paused)
				want := runRollback(t, func(cs *fake.Clientset, d *appsv1.Deployment) (string, error) {
					rb, err := polymorphichelpers.RollbackerFor(gk, cs)
					if err != nil {
						t.Fatal(err)
					}
					return rb.Rollback(d, nil, rev, theirs)
				}, paused)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("paused %v, revision %d, dry-run %d:\n got %q %s %d patches\nwant %q %s %d patches (kubectl)", paused, rev, ours, got.Msg, got.Err, len(got.Patches), want.Msg, want.Err, len(want.Patches))
				}
			}
		}
	}
}

func TestRollback(t *testing.T) {
	gk := schema.GroupKind{Group: "apps", Kind: "Deployment"}
	res := runRollback(t, func(cs *fake.Clientset, d *appsv1.Deployment) (string, error) {
		rb, _ := RollbackerFor(gk, cs)
		return rb.Rollback(d, nil, 1, DryRunNone)
	}, false)
	d := res.Deployment
	if res.Msg != "rolled back" || res.Err != "<nil>" || d.Spec.Template.Spec.Containers[0].Image != "api:v1" {
		t.Fatalf("%q %s %s", res.Msg, res.Err, d.Spec.Template.Spec.Containers[0].Image)
	}
	if _, ok := d.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; ok {
		t.Error("pod-template-hash label copied into the Deployment")
	}
	// The Deployment keeps its revision and last-applied annotations, takes
	// the ReplicaSet's others, and loses its own others.
	want := map[string]string{DeploymentRevisionAnnotation: "3", corev1.LastAppliedConfigAnnotation: "{}", "kubernetes.io/change-cause": "deploy api:v1"}
	if !reflect.DeepEqual(d.Annotations, want) {
		t.Errorf("annotations %v", d.Annotations)
	}
	res = runRollback(t, func(cs *fake.Clientset, d *appsv1.Deployment) (string, error) {
		rb, _ := RollbackerFor(gk, cs)
		return rb.Rollback(d, nil, 0, DryRunServer)
	}, false)
	if len(res.Patches) != 1 || !reflect.DeepEqual(res.Patches[0].PatchOptions.DryRun, []string{metav1.DryRunAll}) || res.Patches[0].GetPatchType() != types.JSONPatchType {
		t.Errorf("server dry run: %+v", res.Patches)
	}
	res = runRollback(t, func(cs *fake.Clientset, d *appsv1.Deployment) (string, error) {
		rb, _ := RollbackerFor(gk, cs)
		return rb.Rollback(d, nil, 2, DryRunClient)
	}, false)
	if res.Msg != "rolled back" || len(res.Patches) != 0 || res.Deployment.Spec.Template.Spec.Containers[0].Image != "api:v3" {
		t.Errorf("client dry run: %q %s %d patches", res.Msg, res.Err, len(res.Patches))
	}
	res = runRollback(t, func(cs *fake.Clientset, d *appsv1.Deployment) (string, error) {
		rb, _ := RollbackerFor(gk, cs)
		return rb.Rollback(d, nil, 9, DryRunClient)
	}, false)
	if res.Err != "unable to find specified revision 9 in history" {
		t.Errorf("another Deployment's ReplicaSet: %s", res.Err)
	}
	if _, err := RollbackerFor(schema.GroupKind{Group: "apps", Kind: "StatefulSet"}, nil); err == nil {
		t.Error("StatefulSet rollbacker")
	}
}
