package scale

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// workerState is what scale worker changes, so that it can be put back.
type workerState struct {
	total     *string // TOTAL_WORKERS (nil: key absent)
	replicas  int32
	restarted *string // the restartedAt template annotation (nil: absent)
}

// runWorker scales the worker StatefulSet: TOTAL_WORKERS in the ConfigMap and
// the replicas together, with a restart of every worker (a new restartedAt
// template annotation in the same patch as the replicas), then waits. If the
// StatefulSet patch or the wait fails, both are put back.
func (o *Options) runWorker(ctx context.Context, cs kubernetes.Interface) error {
	ns := o.Namespace
	stsName := o.Env.WorkloadName(o.comp)
	cmName := o.Env.ConfigMap()
	ref := workloadRef(o.Env, o.comp)
	sts, err := cs.AppsV1().StatefulSets(ns).Get(ctx, stsName, metav1.GetOptions{})
	if err != nil {
		return notFound(err, ref, ns)
	}
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, cmName, metav1.GetOptions{})
	if err != nil {
		return notFound(err, "configmap/"+cmName+" (it holds TOTAL_WORKERS)", ns)
	}
	old := workerState{replicas: replicasOf(sts.Spec.Replicas)}
	if v, ok := cm.Data[app.KeyTotalWorkers]; ok {
		old.total = &v
	}
	if v, ok := sts.Spec.Template.Annotations[RestartedAtAnnotation]; ok {
		old.restarted = &v
	}
	n := o.replicas
	newTotal := strconv.Itoa(int(n))
	oldTotal := "(unset)"
	if old.total != nil {
		oldTotal = *old.total
	}
	if old.total != nil && *old.total == newTotal && old.replicas == n {
		o.Printf("%s already has %s and TOTAL_WORKERS=%s\n", ref, plural(n, "replica", "replicas"), newTotal)
		if o.dryRun != DryRunNone || !o.Wait {
			return nil
		}
		return o.wait(ctx, cs, kube.Workload{Component: o.comp.Name, Kind: o.comp.Kind, Name: stsName})
	}
	if o.dryRun == DryRunClient {
		o.Printf("%s would be scaled: %d -> %d replicas, TOTAL_WORKERS %s -> %s in configmap/%s, every worker restarted%s\n",
			ref, old.replicas, n, oldTotal, newTotal, cmName, o.dryRun.suffix())
		return nil
	}
	popts := metav1.PatchOptions{FieldManager: app.FieldManager, DryRun: o.dryRun.server()}

	// Step 1: TOTAL_WORKERS (optimistic: fails if the ConfigMap changed since the GET).
	cmPatch := mustJSON(map[string]any{
		"metadata": map[string]any{"resourceVersion": cm.ResourceVersion},
		"data":     map[string]any{app.KeyTotalWorkers: newTotal},
	})
	if _, err := cs.CoreV1().ConfigMaps(ns).Patch(ctx, cmName, types.MergePatchType, cmPatch, popts); err != nil {
		return fmt.Errorf("setting TOTAL_WORKERS in configmap/%s: %w (nothing was changed)", cmName, err)
	}
	o.Infof("configmap/%s: TOTAL_WORKERS %s -> %s%s\n", cmName, oldTotal, newTotal, o.dryRun.suffix())

	// Step 2: replicas and a restart of every worker, in one patch.
	now := o.Now().UTC().Format(time.RFC3339)
	stsPatch := mustJSON(map[string]any{
		"metadata": map[string]any{"resourceVersion": sts.ResourceVersion},
		"spec": map[string]any{
			"replicas": n,
			"template": map[string]any{"metadata": map[string]any{"annotations": map[string]any{RestartedAtAnnotation: now}}},
		},
	})
	if _, err := cs.AppsV1().StatefulSets(ns).Patch(ctx, stsName, types.MergePatchType, stsPatch, popts); err != nil {
		if o.dryRun == DryRunServer {
			return err
		}
		classified := cli.Classify(err, "")
		cause := classified.Msg
		if rerr := o.restoreConfigMap(cs, cmName, old); rerr != nil {
			return withCode(cli.Failedf("scaling %s failed: %s; putting TOTAL_WORKERS back to %s ALSO failed: %v", ref, cause, oldTotal, rerr).
				WithHint("set it back by hand: kubectl patch configmap %s -n %s --type merge -p '{\"data\":{\"%s\":\"%s\"}}'", cmName, ns, app.KeyTotalWorkers, oldTotal), classified)
		}
		return withCode(cli.Failedf("scaling %s failed: %s; rolled back: TOTAL_WORKERS is %s again, replicas stay %d, no worker was restarted", ref, cause, oldTotal, old.replicas).
			WithHint("fix the cause (rights: kubectl auth can-i patch statefulsets -n %s) and run the command again", ns), classified)
	}
	o.Printf("%s scaled: %d -> %d replicas, TOTAL_WORKERS %s -> %s, restarting every worker%s\n", ref, old.replicas, n, oldTotal, newTotal, o.dryRun.suffix())
	if o.dryRun != DryRunNone {
		return nil
	}
	recordScaled(ctx, cs, ns, o.comp.Kind, stsName, string(sts.UID),
		fmt.Sprintf("Scaled from %d to %d replicas with TOTAL_WORKERS %s -> %s, every worker restarted, by kubectl piyasa scale", old.replicas, n, oldTotal, newTotal), o.Now())
	if !o.Wait {
		return nil
	}

	werr := o.wait(ctx, cs, kube.Workload{Component: o.comp.Name, Kind: o.comp.Kind, Name: stsName})
	if werr == nil {
		return nil
	}
	if ctx.Err() != nil {
		o.Infof("interrupted while waiting: %s has %d replicas and TOTAL_WORKERS=%s; the workers are still restarting (watch: kubectl piyasa scale status -w -n %s)\n", ref, n, newTotal, ns)
		return werr
	}
	cause := werr.Error()
	var ce *cli.Error
	if errors.As(werr, &ce) {
		cause = ce.Msg
	}
	if rerr := o.restoreWorkers(cs, cmName, stsName, old); rerr != nil {
		return cli.Failedf("scaling %s failed: %s; rolling back ALSO failed: %v", ref, cause, rerr).
			WithHint("set TOTAL_WORKERS=%s in configmap/%s and %d replicas by hand, then: kubectl rollout restart %s -n %s", oldTotal, cmName, old.replicas, ref, ns)
	}
	rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recordScaled(rctx, cs, ns, o.comp.Kind, stsName, string(sts.UID),
		fmt.Sprintf("Rolled back to %d replicas with TOTAL_WORKERS %s by kubectl piyasa scale after: %s", old.replicas, oldTotal, cause), o.Now())
	return cli.Failedf("scaling %s failed: %s; rolled back: TOTAL_WORKERS is %s again and %s is back to %d replicas at its previous pod template",
		ref, cause, oldTotal, ref, old.replicas).
		WithHint("find out why: kubectl piyasa diagnose -n %s (a worker that stays broken may need: kubectl delete pod <name> -n %s)", ns, ns)
}

// restoreConfigMap puts TOTAL_WORKERS back as it was (a fresh context: the
// command's own may have run out).
func (o *Options) restoreConfigMap(cs kubernetes.Interface, cmName string, old workerState) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var v any // nil removes the key
	if old.total != nil {
		v = *old.total
	}
	patch := mustJSON(map[string]any{"data": map[string]any{app.KeyTotalWorkers: v}})
	_, err := cs.CoreV1().ConfigMaps(o.Namespace).Patch(ctx, cmName, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: app.FieldManager})
	if err == nil {
		o.Infof("rolled back configmap/%s: TOTAL_WORKERS=%s\n", cmName, strOr(old.total, "(unset)"))
	}
	return err
}

// restoreWorkers puts TOTAL_WORKERS, the replicas and the pod template's
// restart annotation back: the template then equals the previous revision, so
// the workers already restarted go back to it (and read the old total) and
// the others are left alone.
func (o *Options) restoreWorkers(cs kubernetes.Interface, cmName, stsName string, old workerState) error {
	if err := o.restoreConfigMap(cs, cmName, old); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ann any
	if old.restarted != nil {
		ann = *old.restarted
	}
	patch := mustJSON(map[string]any{"spec": map[string]any{
		"replicas": old.replicas,
		"template": map[string]any{"metadata": map[string]any{"annotations": map[string]any{RestartedAtAnnotation: ann}}},
	}})
	_, err := cs.AppsV1().StatefulSets(o.Namespace).Patch(ctx, stsName, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: app.FieldManager})
	if err == nil {
		o.Infof("rolled back statefulset/%s: %d replicas, previous pod template\n", stsName, old.replicas)
	}
	return err
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // maps of strings and numbers always marshal
	}
	return b
}

func strOr(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

// withCode keeps the suite's exit code 3 when the cause was the cluster
// (unreachable, forbidden), 1 otherwise.
func withCode(e *cli.Error, cause *cli.Error) *cli.Error {
	if cause != nil && cause.Code == cli.ExitCluster {
		e.Code = cli.ExitCluster
	}
	return e
}
