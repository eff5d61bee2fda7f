package diagnose

import (
	"context"
	"fmt"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// checkWorkers reports the workers' sharding faults (PIY401, PIY402) with the
// one rule for them, app.WorkerSharding, that `scale status` uses too.
func (r *runner) checkWorkers(context.Context) {
	w, ok := r.component(app.Worker)
	var hpas []string
	for _, h := range r.s.HPAs {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind != app.KindStatefulSet {
			continue
		}
		isWorker := ok && ref.Name == w.Name
		for _, st := range r.s.StatefulSets {
			if st.Name == ref.Name && app.ComponentNameForLabels(st.Spec.Template.Labels) == app.Worker {
				isWorker = true
			}
		}
		if isWorker {
			hpas = append(hpas, h.Name)
		}
	}
	r401 := r.begin("PIY401", KindConfigMaps, KindStatefulSets)
	r402 := r.begin("PIY402", KindHPAs, KindStatefulSets, KindConfigMaps)
	if !ok || (!r401 && !r402) {
		return
	}
	total, hasTotal := r.appConfig()[app.KeyTotalWorkers]
	hpa := ""
	if len(hpas) > 0 {
		hpa = hpas[0]
	}
	for _, p := range app.WorkerSharding(total, hasTotal, w.Name, w.Replicas, hpa, r.s.Namespace) {
		switch p.Issue {
		case app.ShardingHPA:
			if r402 {
				for _, name := range hpas {
					msg := p.Message
					fix := p.Fix
					if name != hpa {
						q := app.WorkerSharding(total, hasTotal, w.Name, w.Replicas, name, r.s.Namespace)[0]
						msg, fix = q.Message, q.Fix
					}
					r.add("PIY402", app.Worker, Object{Kind: "HorizontalPodAutoscaler", Name: name}, msg,
						[]string{fmt.Sprintf("scaleTargetRef: StatefulSet/%s", w.Name)}, fix)
				}
			}
		default:
			if !r401 {
				continue
			}
			msg, fix := p.Message, p.Fix
			if left, stopped := r.restoreLeft(); stopped {
				// the restore stopped them: it brings back the recorded count, no scale of the workers
				fix, _ = r.restoreFix()
				msg = fmt.Sprintf("TOTAL_WORKERS is %q but StatefulSet %s has %d replicas: stopped by an interrupted restore (PIY120)", total, w.Name, w.Replicas)
				if n, ok := left.Replicas[app.Worker]; ok {
					msg += fmt.Sprintf(", which brings back %d", n)
				}
			}
			r.add("PIY401", app.Worker, w.obj(), msg,
				[]string{"TOTAL_WORKERS=" + total, fmt.Sprintf("spec.replicas: %d", w.Replicas)}, fix)
		}
	}
}
