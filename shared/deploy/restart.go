package deploy

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// readersOf lists the workloads of the components that pass keep.
func readersOf(env app.Environment, keep func(app.Component) bool) []kube.Workload {
	var out []kube.Workload
	for _, c := range app.Components {
		if keep(c) {
			out = append(out, kube.Workload{Component: c.Name, Kind: c.Kind, Name: env.WorkloadName(c)})
		}
	}
	return out
}

// restartAndWait restarts workloads as `kubectl rollout restart` does and
// waits for them.
func restartAndWait(ctx context.Context, g *cli.Global, cs kubernetes.Interface, ws []kube.Workload, cause string, dryRun cli.DryRun, wf waitFlags) error {
	if err := restart(ctx, cs, g.Namespace, ws, g.Now(), cause, dryRun); err != nil {
		return err
	}
	for _, w := range ws {
		fmt.Fprintf(g.Out, "%s/%s restarted%s\n", kindLower(w.Kind), w.Name, dryRun.Suffix())
	}
	if dryRun.Active() || !wf.Wait {
		return nil
	}
	wcs, err := g.WatchClientset()
	if err != nil {
		return err
	}
	wt := &Waiter{CS: wcs, NS: g.Namespace, Timeout: wf.Timeout, Progress: g.ErrOut, Now: g.Now}
	if _, err := wt.Wait(ctx, ws); err != nil {
		return waitErr(ctx, g, err)
	}
	fmt.Fprintf(g.Out, "%s ready\n", cli.Plural(len(ws), "workload", "workloads"))
	return nil
}

func restart(ctx context.Context, cs kubernetes.Interface, ns string, ws []kube.Workload, now time.Time, cause string, dryRun cli.DryRun) error {
	patch, _ := json.Marshal(map[string]any{
		"metadata": map[string]any{"annotations": map[string]string{kube.ChangeCauseAnnotation: cause}},
		"spec": map[string]any{"template": map[string]any{"metadata": map[string]any{
			"annotations": map[string]string{kube.RestartedAtAnnotation: now.Format(time.RFC3339)}}}}})
	opts := metav1.PatchOptions{FieldManager: app.FieldManager, DryRun: dryRun.Server()}
	for _, w := range ws {
		var err error
		switch w.Kind {
		case app.KindDeployment:
			_, err = cs.AppsV1().Deployments(ns).Patch(ctx, w.Name, types.StrategicMergePatchType, patch, opts)
		default:
			_, err = cs.AppsV1().StatefulSets(ns).Patch(ctx, w.Name, types.StrategicMergePatchType, patch, opts)
		}
		if err != nil {
			return fmt.Errorf("restart %s/%s: %w", kindLower(w.Kind), w.Name, err)
		}
	}
	return nil
}
