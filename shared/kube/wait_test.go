package kube

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

func TestSettledWaitsForSurplusPods(t *testing.T) {
	one := int32(1)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "dev-api", Generation: 2},
		Spec:   appsv1.DeploymentSpec{Replicas: &one},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 2, Replicas: 5, UpdatedReplicas: 5, ReadyReplicas: 5, AvailableReplicas: 5}}
	w := Workload{Component: "api", Kind: "Deployment", Name: "dev-api"}
	if st := StatusOf(w, d, false); !st.Done {
		t.Fatalf("rollout status semantics: a scale-down to 1 is done at once: %+v", st)
	}
	if st := StatusOf(w, d, true); st.Done || !strings.Contains(st.Message, "waiting for 1 pods") {
		t.Fatalf("settled: 5 pods for 1 wanted is not done: %+v", st)
	}
	d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas = 1, 1, 1, 1
	if st := StatusOf(w, d, true); !st.Done {
		t.Fatalf("settled at 1 pod: %+v", st)
	}
}

// deployAt is a Deployment of revision rev whose new pods are not ready.
func deployAt(rev string, generation, observed int64, conds ...appsv1.DeploymentCondition) *appsv1.Deployment {
	one := int32(1)
	return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "dev-api", Namespace: "ns1", UID: "d-uid", Generation: generation,
		Annotations: map[string]string{DeploymentRevisionAnnotation: rev}},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "api"}}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: observed, Replicas: 2, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1,
			Conditions: conds}}
}

// replicaSetOf is a ReplicaSet of the Deployment at revision rev.
func replicaSetOf(d *appsv1.Deployment, name, rev string) *appsv1.ReplicaSet {
	yes := true
	return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns1", UID: types.UID(name + "-uid"),
		Annotations:     map[string]string{DeploymentRevisionAnnotation: rev},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: d.Name, UID: d.UID, Controller: &yes}}}}
}

// podOf is a pod of ReplicaSet rs, in CrashLoopBackOff or Unschedulable.
func podOf(rs *appsv1.ReplicaSet, name string, unschedulable bool) *corev1.Pod {
	yes := true
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns1", Labels: map[string]string{"app": "api"},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &yes}}}}
	if unschedulable {
		p.Status = corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: ReasonUnschedulable, Message: "0/2 nodes are available: 2 Insufficient ephemeral-storage."}}}
		return p
	}
	p.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "api", RestartCount: 3,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: ReasonCrashLoopBackOff}}}}}
	return p
}

// TestWaitFailsOnProgressDeadline (issue 13 #1): a Deployment that reports
// ProgressDeadlineExceeded for its observed spec is a failed rollout, as
// `kubectl rollout status` says, not something to wait the timeout out on.
func TestWaitFailsOnProgressDeadline(t *testing.T) {
	d := deployAt("2", 2, 2, appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
		Reason: ReasonProgressDeadlineExceeded, Message: `ReplicaSet "dev-api-b" has timed out progressing.`})
	cs := fake.NewClientset(d)
	w := Workload{Component: "api", Kind: "Deployment", Name: "dev-api"}
	_, err := WaitForWorkloads(context.Background(), cs, "ns1", []Workload{w}, WaitOptions{Timeout: time.Minute, FailFast: true})
	var fe *FailureError
	if !errors.As(err, &fe) || fe.Problem.Reason != ReasonProgressDeadlineExceeded || !strings.Contains(err.Error(), "exceeded its progress deadline") {
		t.Fatalf("want a ProgressDeadlineExceeded failure, got %v", err)
	}
	// A spec the controller has not observed yet (a rollback just patched
	// in) is not judged on the old condition.
	d2 := d.DeepCopy()
	d2.Generation = 3
	_, err = WaitForWorkloads(context.Background(), fake.NewClientset(d2), "ns1", []Workload{w}, WaitOptions{Timeout: 300 * time.Millisecond, FailFast: true})
	if !errors.As(err, new(*TimeoutError)) {
		t.Fatalf("unobserved spec: %v", err)
	}
	// Scaled to zero and gone (a restore stops the app): done, whatever the condition.
	zero := int32(0)
	d3 := d.DeepCopy()
	d3.Spec.Replicas = &zero
	d3.Status.Replicas, d3.Status.UpdatedReplicas, d3.Status.ReadyReplicas, d3.Status.AvailableReplicas = 0, 0, 0, 0
	if _, err := WaitForWorkloads(context.Background(), fake.NewClientset(d3), "ns1", []Workload{w}, WaitOptions{Timeout: time.Minute, Settled: true}); err != nil {
		t.Fatalf("scaled to zero: %v", err)
	}
}

// TestFailFastOnCurrentRevisionOnly (issue 13 #1): every wait fails fast on
// an Unschedulable (or crashing) pod of the revision being rolled out, the
// rollback's wait included; pods of the revision rolled back from are left
// out, and so are all pods while the controller has not observed the spec.
func TestFailFastOnCurrentRevisionOnly(t *testing.T) {
	w := Workload{Component: "api", Kind: "Deployment", Name: "dev-api"}
	wait := func(objs ...runtime.Object) error {
		_, err := WaitForWorkloads(context.Background(), fake.NewClientset(objs...), "ns1", []Workload{w}, WaitOptions{Timeout: 400 * time.Millisecond, FailFast: true})
		return err
	}
	// Rolled back to revision 3 (the template of revision 1): rs-a is
	// current, rs-b (revision 2, the failed update) crash-loops.
	d := deployAt("3", 3, 3)
	rsA, rsB := replicaSetOf(d, "dev-api-a", "3"), replicaSetOf(d, "dev-api-b", "2")
	if err := wait(d, rsA, rsB, podOf(rsB, "dev-api-b-1", false)); !errors.As(err, new(*TimeoutError)) {
		t.Fatalf("a pod of the revision rolled back from stopped the wait: %v", err)
	}
	var fe *FailureError
	err := wait(d, rsA, rsB, podOf(rsB, "dev-api-b-1", false), podOf(rsA, "dev-api-a-1", true))
	if !errors.As(err, &fe) || fe.Problem.Pod != "dev-api-a-1" || fe.Problem.Reason != ReasonUnschedulable {
		t.Fatalf("the rolled-back revision's Unschedulable pod: %v", err)
	}
	// Not observed yet: the revision annotation is stale, no pod is judged.
	pending := deployAt("3", 4, 3)
	if err := wait(pending, rsA, rsB, podOf(rsA, "dev-api-a-1", true)); !errors.As(err, new(*TimeoutError)) {
		t.Fatalf("unobserved spec: %v", err)
	}
	// StatefulSet: its pods carry the revision hash.
	two := int32(2)
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "dev-worker", Namespace: "ns1", Generation: 2},
		Spec: appsv1.StatefulSetSpec{Replicas: &two, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "w"}},
			UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 2, Replicas: 2, ReadyReplicas: 1, CurrentRevision: "old", UpdateRevision: "new"}}
	wpod := func(name, hash string) *corev1.Pod {
		p := podOf(rsA, name, true)
		p.OwnerReferences = nil
		p.Labels = map[string]string{"app": "w", appsv1.ControllerRevisionHashLabelKey: hash}
		return p
	}
	ws := Workload{Component: "worker", Kind: "StatefulSet", Name: "dev-worker"}
	_, err = WaitForWorkloads(context.Background(), fake.NewClientset(sts, wpod("dev-worker-1", "old")), "ns1", []Workload{ws}, WaitOptions{Timeout: 400 * time.Millisecond, FailFast: true})
	if !errors.As(err, new(*TimeoutError)) {
		t.Fatalf("old revision's worker stopped the wait: %v", err)
	}
	_, err = WaitForWorkloads(context.Background(), fake.NewClientset(sts, wpod("dev-worker-1", "new")), "ns1", []Workload{ws}, WaitOptions{Timeout: time.Minute, FailFast: true})
	if !errors.As(err, &fe) || fe.Problem.Pod != "dev-worker-1" {
		t.Fatalf("update revision's Unschedulable worker: %v", err)
	}
}

// TestWaitEndsWithItsContext: a cancelled context (Ctrl-C, SIGTERM) ends
// the wait at once with context.Canceled, not a timeout.
func TestWaitEndsWithItsContext(t *testing.T) {
	d := deployAt("1", 1, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { time.Sleep(100 * time.Millisecond); cancel() }()
	_, err := WaitForWorkloads(ctx, fake.NewClientset(d), "ns1", []Workload{{Component: "api", Kind: "Deployment", Name: "dev-api"}}, WaitOptions{Timeout: time.Hour, FailFast: true})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v", err)
	}
}

// TestFailFastWithoutReplicaSetRights: a user who may not list ReplicaSets
// still gets a wait that fails fast (every pod counts then), not one that
// waits for a ReplicaSet watch that never starts.
func TestFailFastWithoutReplicaSetRights(t *testing.T) {
	d := deployAt("2", 2, 2)
	rsB := replicaSetOf(d, "dev-api-b", "2")
	cs := fake.NewClientset(d, rsB, podOf(rsB, "dev-api-b-1", true))
	cs.PrependReactor("list", "replicasets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "replicasets"}, "", errors.New("no right"))
	})
	w := Workload{Component: "api", Kind: "Deployment", Name: "dev-api"}
	_, err := WaitForWorkloads(context.Background(), cs, "ns1", []Workload{w}, WaitOptions{Timeout: time.Minute, FailFast: true})
	var fe *FailureError
	if !errors.As(err, &fe) || fe.Problem.Pod != "dev-api-b-1" {
		t.Fatalf("want the Unschedulable pod's failure, got %v", err)
	}
}
