package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestStripForCache(t *testing.T) {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p",
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
		Annotations:   map[string]string{lastApplied: "{}", "keep": "v"}}}
	out, err := StripForCache(p)
	if err != nil {
		t.Fatal(err)
	}
	got := out.(*corev1.Pod)
	if got.ManagedFields != nil || got.Annotations[lastApplied] != "" || got.Annotations["keep"] != "v" {
		t.Errorf("got %+v", got.ObjectMeta)
	}
	if _, err := StripForCache("not an object"); err != nil {
		t.Errorf("a non-object is passed through: %v", err)
	}
}
