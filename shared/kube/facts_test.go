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
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/piyasa/kubectl-piyasa/shared/exit"
)

func TestEventTimePrecedence(t *testing.T) {
	t1 := time.Date(2026, 1, 1, 0, 0, 1, 0, time.UTC)
	t2 := t1.Add(time.Minute)
	t3 := t1.Add(time.Hour)
	e := corev1.Event{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.Time{Time: t1}}}
	if got := EventTime(e); !got.Time.Equal(t1) {
		t.Fatalf("creation: %v", got)
	}
	e.EventTime = metav1.MicroTime{Time: t2}
	if got := EventTime(e); !got.Time.Equal(t2) {
		t.Fatalf("eventTime: %v", got)
	}
	e.LastTimestamp = metav1.Time{Time: t2.Add(time.Second)}
	if got := EventTime(e); !got.Time.Equal(t2.Add(time.Second)) {
		t.Fatalf("lastTimestamp: %v", got)
	}
	e.Series = &corev1.EventSeries{LastObservedTime: metav1.MicroTime{Time: t3}}
	if got := EventTime(e); !got.Time.Equal(t3) {
		t.Fatalf("series first: %v", got)
	}
}

func TestNotFoundAndTerminating(t *testing.T) {
	nf := apierrors.NewNotFound(schema.GroupResource{Resource: "configmaps"}, "dev-piyasa-config")
	var e *exit.Error
	if err := NotFound(nf, "configmap/dev-piyasa-config", "ns1"); !errors.As(err, &e) || e.Code != exit.ExitFailed ||
		!strings.Contains(e.Msg, "not found in namespace ns1") || !strings.Contains(e.Hint, "kubectl piyasa deploy") {
		t.Fatalf("not found: %#v", err)
	}
	// A message that merely contains "not found" is not a NotFound.
	other := errors.New(`admission webhook: image "x" not found`)
	if err := NotFound(other, "x", "ns1"); err != other {
		t.Fatalf("string match: %v", err)
	}
	term := apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "piyasa-secrets",
		errors.New("unable to create new content in namespace ns1 because it is being terminated"))
	term.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause}}
	if !NamespaceTerminating(term) {
		t.Fatal("terminating not recognised")
	}
	rbac := apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "piyasa-secrets", errors.New(`User "x" cannot create resource "secrets"`))
	if NamespaceTerminating(rbac) {
		t.Fatal("an RBAC refusal is not a terminating namespace")
	}
}

// TestWaitFailsFastOnRefusedPods: a ResourceQuota that refuses a
// StatefulSet's pods ends the wait at once with the quota's message, not at
// the timeout (issue 16 #9).
func TestWaitFailsFastOnRefusedPods(t *testing.T) {
	two := int32(2)
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "dev-worker", Namespace: "ns1", Generation: 1},
		Spec:   appsv1.StatefulSetSpec{Replicas: &two, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "w"}}},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: 0}}
	now := metav1.Now()
	ev := &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "dev-worker.1", Namespace: "ns1"},
		InvolvedObject: corev1.ObjectReference{Kind: "StatefulSet", Name: "dev-worker", Namespace: "ns1"},
		Reason:         "FailedCreate", Type: "Warning", LastTimestamp: now,
		Message: `create Pod dev-worker-0 in StatefulSet dev-worker failed error: pods "dev-worker-0" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`}
	cs := fake.NewClientset(sts, ev)
	w := Workload{Component: "worker", Kind: "StatefulSet", Name: "dev-worker"}
	begin := time.Now()
	_, err := WaitForWorkloads(context.Background(), cs, "ns1", []Workload{w}, WaitOptions{Timeout: 20 * time.Second, FailFast: true})
	var fe *FailureError
	if !errors.As(err, &fe) {
		t.Fatalf("want a FailureError, got %v", err)
	}
	if time.Since(begin) > 10*time.Second || !strings.Contains(err.Error(), "exceeded quota: q") || strings.Contains(err.Error(), "pod :") {
		t.Fatalf("after %s: %v", time.Since(begin), err)
	}
	// Without fail-fast the same wait runs to its timeout.
	_, err = WaitForWorkloads(context.Background(), cs, "ns1", []Workload{w}, WaitOptions{Timeout: 300 * time.Millisecond})
	if !errors.As(err, new(*TimeoutError)) {
		t.Fatalf("no fail-fast: %v", err)
	}
}

// TestTimeoutNamesItsSubject: a timeout that runs out before anything was
// read still names what it waited for (issue 16 #16).
func TestTimeoutNamesItsSubject(t *testing.T) {
	cs := fake.NewClientset()
	ws := []Workload{{Component: "api", Kind: "Deployment", Name: "dev-api"}, {Component: "worker", Kind: "StatefulSet", Name: "dev-worker"}}
	for _, d := range []time.Duration{time.Nanosecond, 200 * time.Millisecond} {
		_, err := WaitForWorkloads(context.Background(), cs, "ns1", ws, WaitOptions{Timeout: d, FailFast: true})
		if err == nil {
			t.Fatal("no error")
		}
		msg := err.Error()
		if strings.HasSuffix(msg, "waiting for ") || !strings.Contains(msg, "api deployment/dev-api") || !strings.Contains(msg, "worker statefulset/dev-worker") {
			t.Fatalf("timeout %s: %q", d, msg)
		}
	}
}
