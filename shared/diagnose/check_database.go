package diagnose

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/redact"
)

func (r *runner) checkDatabase(context.Context) {
	r.checkService(app.Postgres, "PIY301", "PIY302")
	r.checkURLHost("PIY303", "PIY301", app.KeyDatabaseURL, app.Postgres, app.KeyDatabaseHost, "DB_HOST", "POSTGRES_HOST")
	if r.begin("PIY304", KindConfigMaps) {
		names := make([]string, 0, len(r.s.ConfigMaps))
		for n := range r.s.ConfigMaps {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			data := r.s.ConfigMaps[n]
			keys := make([]string, 0, len(data))
			for k := range data {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				v := data[k]
				switch {
				case redact.URLPassword(v):
					r.add("PIY304", "app", Object{Kind: "ConfigMap", Name: n}, fmt.Sprintf("ConfigMap %s key %s holds a URL with a password", n, k),
						[]string{k + "=" + redact.Line(v)}, "")
				case v != "" && !strings.HasPrefix(v, "$(") && redact.SensitiveEntry(k, v):
					// the rule by which deploy config set refuses a setting
					r.add("PIY304", "app", Object{Kind: "ConfigMap", Name: n}, fmt.Sprintf("ConfigMap %s key %s looks like a credential", n, k),
						[]string{k + "=" + redact.Mask}, "")
				}
			}
		}
	}
	if r.begin("PIY305", KindDeployments, KindPVCs) {
		w, ok := r.component(app.Postgres)
		if ok && w.Deploy != nil && (w.Deploy.Spec.Strategy.Type == "" || w.Deploy.Spec.Strategy.Type == "RollingUpdate") {
			for _, v := range w.Template.Spec.Volumes {
				if v.PersistentVolumeClaim == nil {
					continue
				}
				for _, pvc := range r.s.PVCs {
					if pvc.Name != v.PersistentVolumeClaim.ClaimName {
						continue
					}
					for _, m := range pvc.Spec.AccessModes {
						if m == corev1.ReadWriteOnce || m == corev1.ReadWriteOncePod {
							r.add("PIY305", app.Postgres, w.obj(), fmt.Sprintf("Deployment %s uses strategy RollingUpdate with ReadWriteOnce PVC %s", w.Name, pvc.Name),
								[]string{"strategy: RollingUpdate", "accessModes: " + string(m)},
								fmt.Sprintf(`kubectl patch deployment %s -n %s -p '{"spec":{"strategy":{"type":"Recreate","rollingUpdate":null}}}'`, w.Name, r.s.Namespace))
							break
						}
					}
				}
			}
		}
	}
}
