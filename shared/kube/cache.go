package kube

import (
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/cache"
)

// lastApplied is kubectl's client-side apply record: a second copy of the object.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// StripForCache is an informer transform that drops what no status view reads
// and what makes up much of a cached object: managedFields and kubectl's
// last-applied copy. A watch over thousands of pods keeps less in memory.
var StripForCache cache.TransformFunc = func(obj any) (any, error) {
	inner := obj
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		inner = tomb.Obj
	}
	m, err := meta.Accessor(inner)
	if err != nil {
		return obj, nil
	}
	m.SetManagedFields(nil)
	if a := m.GetAnnotations(); a != nil {
		if _, ok := a[lastApplied]; ok {
			delete(a, lastApplied)
			m.SetAnnotations(a)
		}
	}
	return obj, nil
}
