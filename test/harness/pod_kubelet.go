package harness

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
)

// PodKubeletOptions configures PodKubelet.
type PodKubeletOptions struct {
	// Cluster whose pods are played (nil: the package's, Primary).
	Cluster *Cluster
	// Namespace whose pods are played.
	Namespace string
	// Label marks the pods played (value "true"): app.MigrationLabel, app.RestoreJobLabel.
	Label string
	// WorkDir is the directory the commands run in (the image's working directory).
	WorkDir string
	// Env is added after the pod's own environment, so that a key given here
	// wins: the test's knobs, and the pod's volume paths mapped to local
	// directories (PGDATA, WAL_ARCHIVE_DIR).
	Env []string
	// PythonShim runs a command `python` as MigratePython.
	PythonShim bool
}

// PodKubelet plays the kubelet for the Job pods of one namespace labelled
// opts.Label=true (kwok runs no containers): for each it serves a log file
// through a kwok Logs object, runs the container's command locally in
// WorkDir with the pod's environment resolved from env and envFrom
// (ConfigMap and Secret, $(VAR) expanded as the kubelet does) and then
// opts.Env, writes the output to the log file in CRI format as it comes, and
// sets the pod's phase and container state from the exit code; a pod deleted
// meanwhile kills its process. kwok's pod-complete Stage (which would mark
// every Job pod Succeeded at once) is told to leave these pods alone.
// Everything stops when the test ends.
func PodKubelet(t testing.TB, opts PodKubeletOptions) {
	t.Helper()
	c := opts.Cluster
	if c == nil {
		c = Primary()
	}
	cs := c.Client(t)
	dyn := c.Dynamic(t)
	ctx, cancel := context.WithCancel(context.Background())
	stageExclude(t, dyn, "pod-complete", opts.Label)
	logDir := t.TempDir()
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	seen := map[types.UID]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			w, err := cs.CoreV1().Pods(opts.Namespace).Watch(ctx, metav1.ListOptions{LabelSelector: opts.Label + "=true"})
			if err != nil {
				time.Sleep(200 * time.Millisecond)
				continue
			}
			for ev := range w.ResultChan() {
				pod, ok := ev.Object.(*corev1.Pod)
				if !ok || ev.Type == watch.Deleted || seen[pod.UID] || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
					continue
				}
				seen[pod.UID] = true
				wg.Add(1)
				go func(pod *corev1.Pod) {
					defer wg.Done()
					if err := runPod(ctx, cs, dyn, pod, logDir, opts); err != nil && ctx.Err() == nil {
						t.Logf("harness kubelet: pod %s: %v", pod.Name, err)
					}
				}(pod.DeepCopy())
			}
			w.Stop()
		}
	}()
}

var stageGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "stages"}

// stageExclude adds "no label" to the selector of kwok's Stage named
// stage (pod-ready, pod-complete, pod-delete), once per cluster: the pods
// that carry label are the harness kubelet's.
func stageExclude(t testing.TB, dyn dynamic.Interface, stage, label string) {
	t.Helper()
	key := fmt.Sprintf(`.metadata.labels["%s"]`, label)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		st, err := dyn.Resource(stageGVR).Get(context.Background(), stage, metav1.GetOptions{})
		if err != nil {
			return err
		}
		exprs, _, _ := unstructured.NestedSlice(st.Object, "spec", "selector", "matchExpressions")
		for _, e := range exprs {
			if m, ok := e.(map[string]any); ok && m["key"] == key {
				return nil
			}
		}
		exprs = append(exprs, map[string]any{"key": key, "operator": "DoesNotExist"})
		if err := unstructured.SetNestedSlice(st.Object, exprs, "spec", "selector", "matchExpressions"); err != nil {
			return err
		}
		_, err = dyn.Resource(stageGVR).Update(context.Background(), st, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("harness kubelet: kwok Stage %s: %v", stage, err)
	}
}

var logsGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "logs"}

// runPod plays one pod's life: log file, Running, the command, the final status.
func runPod(ctx context.Context, cs kubernetes.Interface, dyn dynamic.Interface, pod *corev1.Pod, logDir string, opts PodKubeletOptions) error {
	c := pod.Spec.Containers[0]
	logFile := filepath.Join(logDir, pod.Name+".log")
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	logs := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Logs",
		"metadata": map[string]any{"name": pod.Name, "namespace": pod.Namespace},
		"spec":     map[string]any{"logs": []any{map[string]any{"containers": []any{c.Name}, "logsFile": logFile, "follow": true}}},
	}}
	if _, err := dyn.Resource(logsGVR).Namespace(pod.Namespace).Create(ctx, logs, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	if running, err := waitRunning(ctx, cs, pod); !running {
		return err
	}
	env, err := MigrateResolveEnv(ctx, cs, pod.Namespace, c)
	if err != nil {
		return podFinish(ctx, cs, pod, 1, "CreateContainerConfigError", time.Now())
	}
	argv := append(append([]string{}, c.Command...), c.Args...)
	if opts.PythonShim && len(argv) > 0 && argv[0] == "python" {
		argv[0] = MigratePython
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() { // a deleted pod (the Job deleted, its deadline passed) kills the process
		for runCtx.Err() == nil {
			p, err := cs.CoreV1().Pods(pod.Namespace).Get(runCtx, pod.Name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) || (err == nil && p.DeletionTimestamp != nil) {
				stop()
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	cmd := exec.CommandContext(runCtx, argv[0], argv[1:]...)
	cmd.Dir = opts.WorkDir
	// The last of a key given twice wins: opts.Env maps the pod's paths to local ones.
	cmd.Env = append(append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}, env...), opts.Env...)
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	started := time.Now()
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(f, "%s stderr F %v\n", time.Now().UTC().Format(time.RFC3339Nano), err)
		return podFinish(ctx, cs, pod, 127, "Error", started)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	copyLines := func(r io.Reader, stream string) {
		defer wg.Done()
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			mu.Lock()
			fmt.Fprintf(f, "%s %s F %s\n", time.Now().UTC().Format(time.RFC3339Nano), stream, sc.Text())
			mu.Unlock()
		}
	}
	wg.Add(2)
	go copyLines(stdout, "stdout")
	go copyLines(stderr, "stderr")
	wg.Wait()
	err = cmd.Wait()
	if runCtx.Err() != nil {
		return nil // killed: the pod is gone
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = 1
	}
	reason := "Completed"
	if code != 0 {
		reason = "Error"
	}
	return podFinish(ctx, cs, pod, int32(code), reason, started)
}

// waitRunning waits until kwok has made the pod Running (its pod-ready
// Stage); false when the pod went away first (or ctx ended: the error).
func waitRunning(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod) (bool, error) {
	for {
		p, err := cs.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil && (apierrors.IsNotFound(err) || ctx.Err() != nil) {
			return false, err
		}
		if err != nil { // the API server is away (a fault test): a kubelet retries
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if p.DeletionTimestamp != nil {
			return false, nil
		}
		if p.Status.Phase == corev1.PodRunning {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// kubeletRetry is how long the harness kubelet retries a status update, as a
// kubelet does while the API server is away (the fault tests kill it): every
// 250 ms for 2 minutes. No Cap: wait.Backoff ends its steps when the
// duration reaches the cap, which gave up after ~5 s, within an outage.
var kubeletRetry = wait.Backoff{Steps: 480, Duration: 250 * time.Millisecond, Factor: 1, Jitter: 0.1}

// podFinish writes the terminated container state and the pod phase.
func podFinish(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, code int32, reason string, started time.Time) error {
	transient := func(err error) bool { return ctx.Err() == nil && !apierrors.IsNotFound(err) }
	return retry.OnError(kubeletRetry, transient, func() error {
		p, err := cs.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now()
		phase := corev1.PodSucceeded
		if code != 0 {
			phase = corev1.PodFailed
		}
		p.Status.Phase = phase
		var statuses []corev1.ContainerStatus
		for _, c := range p.Spec.Containers {
			statuses = append(statuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image, ImageID: c.Image,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
					ExitCode: code, Reason: reason, StartedAt: metav1.NewTime(started), FinishedAt: now,
				}},
			})
		}
		p.Status.ContainerStatuses = statuses
		for i := range p.Status.Conditions {
			if p.Status.Conditions[i].Type == corev1.PodReady || p.Status.Conditions[i].Type == corev1.ContainersReady {
				p.Status.Conditions[i].Status = corev1.ConditionFalse
				p.Status.Conditions[i].Reason = "PodCompleted"
				p.Status.Conditions[i].LastTransitionTime = now
			}
		}
		_, err = cs.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, p, metav1.UpdateOptions{})
		return err
	})
}
