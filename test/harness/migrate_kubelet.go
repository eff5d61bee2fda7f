package harness

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// MigratePython is the Python that has Alembic and psycopg2 (Debian's
// python3-alembic, python3-psycopg2); `python` on PATH may be another one.
const MigratePython = "/usr/bin/python3"

// MigrateKubeletOptions configures MigrateKubelet.
type MigrateKubeletOptions struct {
	// Namespace whose migration pods are played.
	Namespace string
	// WorkDir is the Alembic project the commands run in (the api image's working directory).
	WorkDir string
	// ExtraEnv is added to every process (the test's knobs: FAIL_REVISION, MIGRATE_SLEEP).
	ExtraEnv []string
	// ExecDeployment names the Deployment whose container environment the
	// ClusterExec of the namespace's pods gets (`kubectl exec` into an api pod).
	ExecDeployment string
}

// MigrateKubelet plays the kubelet for the migration pods of one namespace
// (kwok runs no containers): for each pod labelled app.MigrationLabel it
// serves a log file through a kwok Logs object, runs the container's command
// locally in WorkDir with the pod's environment resolved from env and envFrom
// (ConfigMap and Secret, $(VAR) expanded as the kubelet does), writes the
// output to the log file in CRI format as it comes, and sets the pod's phase
// and container state from the exit code. kwok's pod-complete Stage (which
// would mark every Job pod Succeeded at once) is told to leave these pods
// alone. A ClusterExec maps `kubectl exec` into the namespace's pods to local
// commands in WorkDir with ExecDeployment's environment; `python` resolves
// through the kwok controller's PATH (see MigratePythonShim). Everything stops
// when the test ends.
func MigrateKubelet(t testing.TB, opts MigrateKubeletOptions) {
	t.Helper()
	cs := Client(t)
	dyn := Dynamic(t)
	ctx, cancel := context.WithCancel(context.Background())
	migrateStageExclude(t)
	if opts.ExecDeployment != "" {
		migrateClusterExec(t, ctx, cs, opts)
	}
	logDir := t.TempDir()
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	seen := map[types.UID]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ctx.Err() == nil {
			w, err := cs.CoreV1().Pods(opts.Namespace).Watch(ctx, metav1.ListOptions{LabelSelector: app.MigrationLabel + "=true"})
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
					if err := migrateRunPod(ctx, cs, dyn, pod, logDir, opts); err != nil && ctx.Err() == nil {
						t.Logf("migrate kubelet: pod %s: %v", pod.Name, err)
					}
				}(pod.DeepCopy())
			}
			w.Stop()
		}
	}()
}

// MigratePythonShim returns a new directory holding `python` -> MigratePython, to
// put first on the PATH of the processes that run `python -m alembic` (the
// kwok controller inherits the test process's PATH when the harness starts
// the cluster). A TestMain uses Main(m, WithMigratePython()) instead.
func MigratePythonShim() (string, error) {
	dir, err := os.MkdirTemp("", "piyasa-python-shim-")
	if err != nil {
		return "", err
	}
	return dir, linkMigratePython(dir)
}

// linkMigratePython makes dir/python a link to MigratePython.
func linkMigratePython(dir string) error {
	return os.Symlink(MigratePython, filepath.Join(dir, "python"))
}

var stageGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "stages"}

// migrateStageExclude adds "no migration label" to the selector of kwok's
// pod-complete Stage, once per cluster.
func migrateStageExclude(t testing.TB) {
	t.Helper()
	dyn := Dynamic(t)
	key := fmt.Sprintf(`.metadata.labels["%s"]`, app.MigrationLabel)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		st, err := dyn.Resource(stageGVR).Get(context.Background(), "pod-complete", metav1.GetOptions{})
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
		t.Fatalf("migrate kubelet: kwok Stage pod-complete: %v", err)
	}
}

// migrateClusterExec maps exec into any pod of the namespace to a local command in WorkDir.
func migrateClusterExec(t testing.TB, ctx context.Context, cs kubernetes.Interface, opts MigrateKubeletOptions) {
	t.Helper()
	d, err := cs.AppsV1().Deployments(opts.Namespace).Get(ctx, opts.ExecDeployment, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("migrate kubelet: %v", err)
	}
	env, err := MigrateResolveEnv(ctx, cs, opts.Namespace, d.Spec.Template.Spec.Containers[0])
	if err != nil {
		t.Fatalf("migrate kubelet: %v", err)
	}
	ApplyClusterExec(t, "piyasa-migrate-exec-"+opts.Namespace, opts.Namespace, opts.WorkDir, append(append(env, "PYTHONDONTWRITEBYTECODE=1"), opts.ExtraEnv...)...)
}

// MigrateResolveEnv resolves a container's environment as the kubelet does:
// envFrom (ConfigMaps and Secrets, with their prefixes) first, then env with
// $(VAR) references expanded, as KEY=VALUE pairs.
func MigrateResolveEnv(ctx context.Context, cs kubernetes.Interface, ns string, c corev1.Container) ([]string, error) {
	vals := map[string]string{}
	var order []string
	set := func(k, v string) {
		if _, ok := vals[k]; !ok {
			order = append(order, k)
		}
		vals[k] = v
	}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, ef.ConfigMapRef.Name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			for k, v := range cm.Data {
				set(ef.Prefix+k, v)
			}
		case ef.SecretRef != nil:
			s, err := cs.CoreV1().Secrets(ns).Get(ctx, ef.SecretRef.Name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			for k, v := range s.Data {
				set(ef.Prefix+k, string(v))
			}
		}
	}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			set(e.Name, migrateExpand(e.Value, vals))
		case e.ValueFrom.ConfigMapKeyRef != nil:
			cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, e.ValueFrom.ConfigMapKeyRef.Name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			set(e.Name, cm.Data[e.ValueFrom.ConfigMapKeyRef.Key])
		case e.ValueFrom.SecretKeyRef != nil:
			s, err := cs.CoreV1().Secrets(ns).Get(ctx, e.ValueFrom.SecretKeyRef.Name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			set(e.Name, string(s.Data[e.ValueFrom.SecretKeyRef.Key]))
		}
	}
	out := make([]string, 0, len(order))
	for _, k := range order {
		out = append(out, k+"="+vals[k])
	}
	return out, nil
}

// migrateExpand expands $(VAR) from vals and $$ to $, as the kubelet does.
func migrateExpand(s string, vals map[string]string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '$' && i+1 < len(s) {
			if s[i+1] == '$' {
				b.WriteByte('$')
				i++
				continue
			}
			if s[i+1] == '(' {
				if j := strings.IndexByte(s[i:], ')'); j > 0 {
					name := s[i+2 : i+j]
					if v, ok := vals[name]; ok {
						b.WriteString(v)
						i += j
						continue
					}
				}
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

var logsGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "logs"}

// migrateRunPod plays one pod's life: log file, Running, the command, the final status.
func migrateRunPod(ctx context.Context, cs kubernetes.Interface, dyn dynamic.Interface, pod *corev1.Pod, logDir string, opts MigrateKubeletOptions) error {
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
	// Wait until kwok has made the pod Running (its pod-ready Stage).
	for {
		p, err := cs.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil && (apierrors.IsNotFound(err) || ctx.Err() != nil) {
			return err
		}
		if err != nil { // the API server is away (a fault test): a kubelet retries
			time.Sleep(200 * time.Millisecond)
			continue
		}
		if p.DeletionTimestamp != nil {
			return nil
		}
		if p.Status.Phase == corev1.PodRunning {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	env, err := MigrateResolveEnv(ctx, cs, pod.Namespace, c)
	if err != nil {
		return migrateFinish(ctx, cs, pod, 1, "CreateContainerConfigError", time.Now())
	}
	argv := append(append([]string{}, c.Command...), c.Args...)
	if len(argv) > 0 && argv[0] == "python" {
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
	cmd.Env = append(append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "PYTHONDONTWRITEBYTECODE=1"}, env...), opts.ExtraEnv...)
	stdout, _ := cmd.StdoutPipe()
	stderr, _ := cmd.StderrPipe()
	started := time.Now()
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(f, "%s stderr F %v\n", time.Now().UTC().Format(time.RFC3339Nano), err)
		return migrateFinish(ctx, cs, pod, 127, "Error", started)
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
	return migrateFinish(ctx, cs, pod, int32(code), reason, started)
}

// kubeletRetry is how long the harness kubelet retries a status update, as a
// kubelet does while the API server is away (the fault tests kill it).
var kubeletRetry = wait.Backoff{Steps: 80, Duration: 100 * time.Millisecond, Factor: 1.5, Cap: 2 * time.Second}

// migrateFinish writes the terminated container state and the pod phase.
func migrateFinish(ctx context.Context, cs kubernetes.Interface, pod *corev1.Pod, code int32, reason string, started time.Time) error {
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
