package harness

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// PostgresKubeletLabel marks the postgres pods whose life the harness plays
// (value "true"): kwok's pod-ready and pod-delete Stages leave them alone.
const PostgresKubeletLabel = "harness.piyasa.io/postgres-kubelet"

// Kubelet plays the kubelet for the postgres Deployment named deployment in
// ns, backed by this server: the Deployment is switched to the Recreate
// strategy (as the manifests have it) with its pods labelled
// PostgresKubeletLabel; a pod of it that is deleted (the Deployment scaled to
// 0) stops the server (fast shutdown) and only then goes away; a new pod
// starts the server again on its data directory (pg_ctl waits until it
// accepts connections, through any recovery) and only then becomes Running
// and Ready; a server that does not start leaves its pod not ready in
// CrashLoopBackOff (the log says why). It also plays the restore Jobs' pods
// (app.RestoreJobLabel, see PodKubelet) with PGDATA and WAL_ARCHIVE_DIR
// mapped to the server's data and archive directories. Everything stops when
// the test ends.
func (p *Postgres) Kubelet(t testing.TB, ns, deployment string) {
	t.Helper()
	p.KubeletIn(t, Primary(), ns, deployment)
}

// KubeletIn is Kubelet in cluster c (one of WithClusters).
func (p *Postgres) KubeletIn(t testing.TB, c *Cluster, ns, deployment string) {
	t.Helper()
	cs := c.Client(t)
	dyn := c.Dynamic(t)
	stageExclude(t, dyn, "pod-ready", PostgresKubeletLabel)
	stageExclude(t, dyn, "pod-delete", PostgresKubeletLabel)
	work := t.TempDir()
	PodKubelet(t, PodKubeletOptions{Cluster: c, Namespace: ns, Label: app.RestoreJobLabel, WorkDir: work,
		Env: []string{"PGDATA=" + p.Data, app.EnvWALArchiveDir + "=" + p.WALArchive, "TMPDIR=" + work}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	k := &pgKubelet{t: t, p: p, cs: cs, ns: ns, running: true, handled: map[types.UID]bool{}}
	go func() {
		defer close(done)
		k.loop(ctx)
	}()
	patch := fmt.Sprintf(`{"spec":{"strategy":{"type":"Recreate","rollingUpdate":null},"template":{"metadata":{"labels":{%q:"true"}}}}}`, PostgresKubeletLabel)
	if _, err := cs.AppsV1().Deployments(ns).Patch(context.Background(), deployment, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatalf("postgres kubelet: %v", err)
	}
}

// pgKubelet is the state of one postgres kubelet: whether the server runs and
// for which pod.
type pgKubelet struct {
	t       testing.TB
	p       *Postgres
	cs      kubernetes.Interface
	ns      string
	running bool
	owner   types.UID
	handled map[types.UID]bool
}

// loop lists and watches the labelled pods and plays each event in turn.
func (k *pgKubelet) loop(ctx context.Context) {
	sel := metav1.ListOptions{LabelSelector: PostgresKubeletLabel + "=true"}
	for ctx.Err() == nil {
		list, err := k.cs.CoreV1().Pods(k.ns).List(ctx, sel)
		if err != nil {
			time.Sleep(200 * time.Millisecond)
			continue
		}
		for i := range list.Items {
			k.play(ctx, &list.Items[i])
		}
		opts := sel
		opts.ResourceVersion = list.ResourceVersion
		w, err := k.cs.CoreV1().Pods(k.ns).Watch(ctx, opts)
		if err != nil {
			continue
		}
		for ev := range w.ResultChan() {
			if pod, ok := ev.Object.(*corev1.Pod); ok {
				k.play(ctx, pod)
			}
		}
		w.Stop()
	}
}

// play acts on one pod's state: a deleted pod stops the server first, a
// scheduled new one starts it.
func (k *pgKubelet) play(ctx context.Context, pod *corev1.Pod) {
	if pod.DeletionTimestamp != nil {
		if k.running && (k.owner == "" || k.owner == pod.UID) {
			if err := k.p.Stop(); err != nil {
				k.t.Logf("postgres kubelet: stop for pod %s: %v", pod.Name, err)
			}
			k.running, k.owner = false, ""
		}
		err := k.cs.CoreV1().Pods(k.ns).Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To(int64(0))})
		if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
			k.t.Logf("postgres kubelet: delete pod %s: %v", pod.Name, err)
		}
		return
	}
	if k.handled[pod.UID] || pod.Spec.NodeName == "" {
		return
	}
	k.handled[pod.UID] = true
	var startErr error
	if !k.running {
		startErr = k.p.Start()
	}
	if startErr == nil {
		k.running, k.owner = true, pod.UID
	} else {
		k.t.Logf("postgres kubelet: the server of pod %s did not start: %v", pod.Name, startErr)
	}
	if err := k.setStatus(ctx, pod, startErr == nil); err != nil && ctx.Err() == nil {
		k.t.Logf("postgres kubelet: status of pod %s: %v", pod.Name, err)
	}
}

// setStatus writes a Running pod's status: ready, or crash-looping.
func (k *pgKubelet) setStatus(ctx context.Context, pod *corev1.Pod, ready bool) error {
	return retry.OnError(kubeletRetry, func(err error) bool { return ctx.Err() == nil && !apierrors.IsNotFound(err) }, func() error {
		cur, err := k.cs.CoreV1().Pods(k.ns).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		st := corev1.ConditionFalse
		if ready {
			st = corev1.ConditionTrue
		}
		cur.Status.Phase, cur.Status.StartTime, cur.Status.PodIP = corev1.PodRunning, &now, "10.244.0.99"
		cur.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.ContainersReady, Status: st, LastTransitionTime: now},
			{Type: corev1.PodReady, Status: st, LastTransitionTime: now},
		}
		var statuses []corev1.ContainerStatus
		for _, c := range cur.Spec.Containers {
			cst := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ImageID: c.Image, Ready: ready, Started: ptr.To(ready)}
			if ready {
				cst.State.Running = &corev1.ContainerStateRunning{StartedAt: now}
			} else {
				cst.RestartCount = 1
				cst.State.Waiting = &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off restarting failed container"}
				cst.LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", StartedAt: now, FinishedAt: now}
			}
			statuses = append(statuses, cst)
		}
		cur.Status.ContainerStatuses = statuses
		_, err = k.cs.CoreV1().Pods(k.ns).UpdateStatus(ctx, cur, metav1.UpdateOptions{})
		return err
	})
}

// ServerLog returns the server's log file (what `kubectl logs` of the
// postgres pod would show), for a test's failure message.
func (p *Postgres) ServerLog() string {
	b, _ := os.ReadFile(filepath.Join(p.Dir, "log"))
	return string(b)
}

// Crash stops the server at once (immediate shutdown, no checkpoint, no
// last archiving), as a lost node or disk does.
func (p *Postgres) Crash() error {
	cred, err := serverCredential(p.Dir)
	if err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(p.BinDir, "pg_ctl"), "-D", p.Data, "-m", "immediate", "-w", "stop")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_ctl stop -m immediate: %v\n%s", err, out)
	}
	return nil
}
