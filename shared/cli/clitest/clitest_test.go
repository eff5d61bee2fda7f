package clitest

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestNewServesObjectsAndNamespace(t *testing.T) {
	tt := New("ns1", &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c", Namespace: "ns1"}})
	if err := tt.Global.Complete(); err != nil {
		t.Fatal(err)
	}
	if tt.Namespace != "ns1" || !tt.NamespaceExplicit {
		t.Fatalf("namespace %q explicit=%v", tt.Namespace, tt.NamespaceExplicit)
	}
	cs, err := tt.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps("ns1").Get(context.Background(), "c", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	m, err := tt.RESTMapper()
	if err != nil {
		t.Fatal(err)
	}
	mapping, err := m.RESTMapping(schema.GroupKind{Group: "apps", Kind: "StatefulSet"}, "v1")
	if err != nil || mapping.Resource.Resource != "statefulsets" {
		t.Fatalf("mapping %v %v", mapping, err)
	}
	tt.Infof("x")
	if _, e := tt.Output(); e != "x" {
		t.Fatalf("stderr %q", e)
	}
}
