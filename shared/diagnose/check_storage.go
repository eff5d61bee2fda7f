package diagnose

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

func (r *runner) checkStorage(context.Context) {
	r601 := r.begin("PIY601", KindPVCs)
	r602 := r.begin("PIY602", KindPVCs)
	r603 := r.begin("PIY603", KindPVCs, KindStorageClasses)
	for _, pvc := range r.s.PVCs {
		obj := Object{Kind: "PersistentVolumeClaim", Name: pvc.Name}
		comp := "app"
		switch {
		case pvc.Name == app.PostgresPVC || strings.HasSuffix(pvc.Name, "-"+app.PostgresPVC) || pvc.Name == r.s.Env.ObjectName(app.PostgresPVC):
			comp = app.Postgres
		case strings.HasPrefix(pvc.Name, app.RedisPVC+"-"):
			comp = app.Redis
		}
		var ev []string
		for _, e := range r.s.Events {
			if e.Kind == "PersistentVolumeClaim" && e.Name == pvc.Name {
				ev = append(ev, fmt.Sprintf("event %s (x%d): %s", e.Reason, e.Count, truncate(e.Message, 200)))
			}
		}
		class := ""
		if pvc.Spec.StorageClassName != nil {
			class = *pvc.Spec.StorageClassName
		}
		switch pvc.Status.Phase {
		case corev1.ClaimPending:
			if r601 {
				why := "no matching PersistentVolume and no provisioner"
				if class != "" {
					if _, ok := r.s.StorageClasses[class]; !ok {
						why = fmt.Sprintf("StorageClass %s does not exist", class)
					} else {
						why = fmt.Sprintf("StorageClass %s has not provisioned a volume", class)
					}
				} else if !hasDefaultClass(r) {
					why = "no storageClassName, no default StorageClass and no matching PersistentVolume"
				}
				r.add("PIY601", comp, obj, fmt.Sprintf("PVC %s is Pending: %s", pvc.Name, why), ev,
					fmt.Sprintf("kubectl describe pvc %s -n %s; set a default StorageClass or create a matching PersistentVolume", pvc.Name, r.s.Namespace))
			}
		case corev1.ClaimLost:
			if r602 {
				r.add("PIY602", comp, obj, fmt.Sprintf("PVC %s is Lost: its PersistentVolume %s is gone", pvc.Name, or(pvc.Spec.VolumeName, "(unnamed)")), ev,
					"")
			}
		}
		if r603 && comp != "app" {
			if class == "" {
				r.add("PIY603", comp, obj, fmt.Sprintf("PVC %s has no StorageClass: it cannot be expanded", pvc.Name), nil, "")
			} else if sc, ok := r.s.StorageClasses[class]; ok && !isTrue(sc.AllowVolumeExpansion) {
				r.add("PIY603", comp, obj, fmt.Sprintf("StorageClass %s of PVC %s does not allow volume expansion", class, pvc.Name), nil, "")
			}
		}
	}
}

func hasDefaultClass(r *runner) bool {
	for _, sc := range r.s.StorageClasses {
		if sc.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" {
			return true
		}
	}
	return false
}
