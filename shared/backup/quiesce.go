package backup

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// appReplicas is the recorded replica count of the app's database clients.
type appReplicas struct {
	Workload kube.Workload
	Replicas int32
}

// dbClients are the components that use the database: stopped during a restore.
var dbClients = []string{app.API, app.Worker}

func (b *base) workload(comp string) kube.Workload {
	c, _ := app.LookupComponent(comp)
	return kube.Workload{Component: comp, Kind: c.Kind, Name: b.Env.WorkloadName(c)}
}

// recordReplicas reads the api and worker replicas. Every one must exist:
// a missing workload is named in an exit-2 error before anything changes
// (with --env prod in a dev namespace, a restore would otherwise load over
// a database whose app keeps running).
func (b *base) recordReplicas(ctx context.Context) ([]appReplicas, error) {
	var out []appReplicas
	var missing []string
	for _, comp := range dbClients {
		w := b.workload(comp)
		sc, err := b.getScale(ctx, w)
		if apierrors.IsNotFound(err) {
			missing = append(missing, w.Kind+" "+w.Name)
			continue
		}
		if err != nil {
			return nil, err
		}
		n := sc.Spec.Replicas
		if n == 0 {
			// Stopped by an earlier restore that did not finish: its record wins.
			if rec, ok := b.annotatedReplicas(ctx, w); ok {
				n = rec
			}
		}
		out = append(out, appReplicas{Workload: w, Replicas: n})
	}
	if len(missing) > 0 {
		return nil, cli.Usagef("namespace %s has no %s (the %s names of --env %s): nothing was changed",
			b.Namespace, strings.Join(missing, " and no "), b.Env.Prefix+"*", b.Env.Name).
			WithHint("give the environment whose app runs in %s (--env dev|prod), or the namespace of that environment (-n)", b.Namespace)
	}
	return out, nil
}

func (b *base) getScale(ctx context.Context, w kube.Workload) (*autoscalingv1.Scale, error) {
	cs, err := b.Clientset()
	if err != nil {
		return nil, err
	}
	if w.Kind == app.KindStatefulSet {
		return cs.AppsV1().StatefulSets(b.Namespace).GetScale(ctx, w.Name, metav1.GetOptions{})
	}
	return cs.AppsV1().Deployments(b.Namespace).GetScale(ctx, w.Name, metav1.GetOptions{})
}

// scalePatchTimeout bounds one scale patch, which a signal does not cut short.
const scalePatchTimeout = 30 * time.Second

// scaleAll sets every recorded workload to its replicas (or to zero) and
// waits (by watch) until exactly that many pods exist and are ready. The
// patches are sent together even when a signal comes meanwhile (api and
// worker are not left one up and one down); the wait ends at once with ctx.
func (b *base) scaleAll(ctx context.Context, rs []appReplicas, zero bool, timeout time.Duration) error {
	cs, err := b.Clientset()
	if err != nil {
		return err
	}
	var ws []kube.Workload
	for _, r := range rs {
		n := r.Replicas
		if zero {
			n = 0
		}
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), scalePatchTimeout)
		err := kube.SetReplicas(pctx, cs, b.Namespace, r.Workload, n)
		cancel()
		if err != nil {
			return fmt.Errorf("scale %s %s to %d: %w", r.Workload.Kind, r.Workload.Name, n, err)
		}
		ws = append(ws, r.Workload)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if len(ws) == 0 {
		return nil
	}
	_, err = kube.WaitForWorkloads(ctx, cs, b.Namespace, ws, kube.WaitOptions{Timeout: timeout, Settled: true, FailFast: !zero})
	return err
}

// replicasText says "api=3 worker=6".
func replicasText(rs []appReplicas) string {
	s := ""
	for i, r := range rs {
		if i > 0 {
			s += " "
		}
		s += fmt.Sprintf("%s=%d", r.Workload.Component, r.Replicas)
	}
	return s
}

// ReplicasAnnotation records, on the api Deployment and worker StatefulSet,
// the replicas they had before a restore stopped them: a later restore (e.g.
// of the safety backup) scales them back to that, not to zero.
const ReplicasAnnotation = app.ReplicasBeforeRestoreAnnotation

// patchAnnotations sets (or, with nil values, removes) annotations of w.
func (b *base) patchAnnotations(ctx context.Context, w kube.Workload, values map[string]*string) error {
	cs, err := b.Clientset()
	if err != nil {
		return err
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": values}})
	if err != nil {
		return err
	}
	if w.Kind == app.KindStatefulSet {
		_, err = cs.AppsV1().StatefulSets(b.Namespace).Patch(ctx, w.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: app.FieldManager})
	} else {
		_, err = cs.AppsV1().Deployments(b.Namespace).Patch(ctx, w.Name, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: app.FieldManager})
	}
	return err
}

// markReplicas records, on api and worker, their replicas and the restore
// that stops them (app.RestoreRecord): what diagnose, deploy status and a
// re-run of the restore read when it does not finish.
func (b *base) markReplicas(ctx context.Context, rs []appReplicas, rec app.RestoreRecord) error {
	rec.Replicas = map[string]int32{}
	for _, r := range rs {
		rec.Replicas[r.Workload.Component] = r.Replicas
	}
	v := rec.Marshal()
	for _, r := range rs {
		n := strconv.Itoa(int(r.Replicas))
		if err := b.patchAnnotations(ctx, r.Workload, map[string]*string{ReplicasAnnotation: &n, app.RestoreAnnotation: &v}); err != nil {
			return err
		}
	}
	return nil
}

// unmarkReplicas removes both annotations once the app runs again.
func (b *base) unmarkReplicas(ctx context.Context, rs []appReplicas) error {
	for _, r := range rs {
		if err := b.patchAnnotations(ctx, r.Workload, map[string]*string{ReplicasAnnotation: nil, app.RestoreAnnotation: nil}); err != nil {
			return err
		}
	}
	return nil
}

// annotatedReplicas returns the recorded replicas of a stopped workload.
func (b *base) annotatedReplicas(ctx context.Context, w kube.Workload) (int32, bool) {
	cs, err := b.Clientset()
	if err != nil {
		return 0, false
	}
	var ann map[string]string
	if w.Kind == app.KindStatefulSet {
		s, err := cs.AppsV1().StatefulSets(b.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return 0, false
		}
		ann = s.Annotations
	} else {
		d, err := cs.AppsV1().Deployments(b.Namespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return 0, false
		}
		ann = d.Annotations
	}
	if rec, err := app.ParseRestoreRecord(ann[app.RestoreAnnotation]); err == nil {
		if n, ok := rec.Replicas[w.Component]; ok && n > 0 {
			return n, true
		}
	}
	n, err := strconv.Atoi(ann[ReplicasAnnotation])
	if err != nil || n < 0 {
		return 0, false
	}
	return int32(n), true
}
