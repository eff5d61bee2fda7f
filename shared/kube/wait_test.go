package kube

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
