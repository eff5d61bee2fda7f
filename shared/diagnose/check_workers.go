package diagnose

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

func (r *runner) checkWorkers() {
	w, ok := r.component(app.Worker)
	if r.begin("PIY401", KindConfigMaps, KindStatefulSets) && ok {
		if v, has := r.appConfig()[app.KeyTotalWorkers]; has {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil || int32(n) != w.Replicas {
				r.add("PIY401", app.Worker, w.obj(), fmt.Sprintf("TOTAL_WORKERS is %q in ConfigMap %s but StatefulSet %s has %d replicas", v, r.appConfigName(), w.Name, w.Replicas),
					[]string{"TOTAL_WORKERS=" + v, fmt.Sprintf("spec.replicas: %d", w.Replicas)},
					fmt.Sprintf("kubectl piyasa scale worker %d -n %s (sets TOTAL_WORKERS and the replicas together)", max(w.Replicas, 1), r.s.Namespace))
			}
		}
	}
	if r.begin("PIY402", KindHPAs, KindStatefulSets) {
		for _, h := range r.s.HPAs {
			ref := h.Spec.ScaleTargetRef
			if ref.Kind != "StatefulSet" {
				continue
			}
			isWorker := ok && ref.Name == w.Name
			for _, st := range r.s.StatefulSets {
				if st.Name == ref.Name && app.ComponentNameForLabels(st.Spec.Template.Labels) == app.Worker {
					isWorker = true
				}
			}
			if isWorker {
				r.add("PIY402", app.Worker, Object{Kind: "HorizontalPodAutoscaler", Name: h.Name},
					fmt.Sprintf("HPA %s scales StatefulSet %s (%d-%d) while TOTAL_WORKERS is fixed at %s", h.Name, ref.Name, replicas(h.Spec.MinReplicas), h.Spec.MaxReplicas, r.appConfig()[app.KeyTotalWorkers]),
					[]string{fmt.Sprintf("scaleTargetRef: StatefulSet/%s", ref.Name)},
					fmt.Sprintf("kubectl delete hpa %s -n %s; then kubectl piyasa scale worker N -n %s", h.Name, r.s.Namespace, r.s.Namespace))
			}
		}
	}
}
