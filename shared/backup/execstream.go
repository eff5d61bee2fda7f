package backup

import (
	"context"
	"fmt"
	"io"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// Executor runs a command in a pod's container with the given streams. The
// real one is client-go's remotecommand; unit tests give their own.
type Executor interface {
	Exec(ctx context.Context, pod *corev1.Pod, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error
}

// RemoteExecutor runs commands through the API server's exec subresource:
// WebSocket (protocol v5, kubectl's default since 1.30) and SPDY only when the
// WebSocket upgrade itself failed. A stream that failed after it started is
// never re-run (that would run pg_dump or psql a second time).
type RemoteExecutor struct {
	Config *rest.Config
	Client kubernetes.Interface
}

// Exec implements Executor with kube.Exec.
func (e *RemoteExecutor) Exec(ctx context.Context, pod *corev1.Pod, container string, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error {
	return kube.Exec(ctx, e.Config, e.Client, pod.Namespace, pod.Name, container, cmd, kube.ExecStreams{Stdin: stdin, Stdout: stdout, Stderr: stderr})
}

// PostgresPod finds the running, ready-to-exec postgres pod of the namespace
// and its container.
func PostgresPod(ctx context.Context, cs kubernetes.Interface, ns string) (*corev1.Pod, string, error) {
	c, _ := app.LookupComponent(app.Postgres)
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: c.Selector()})
	if err != nil {
		return nil, "", err
	}
	var running []corev1.Pod
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			running = append(running, p)
		}
	}
	if len(running) == 0 {
		return nil, "", fmt.Errorf("no running postgres pod (%s) in namespace %s", c.Selector(), ns)
	}
	sort.Slice(running, func(i, j int) bool { return running[i].CreationTimestamp.After(running[j].CreationTimestamp.Time) })
	pod := &running[0]
	container := pod.Spec.Containers[0].Name
	for _, ct := range pod.Spec.Containers {
		if ct.Name == app.Postgres {
			container = ct.Name
		}
	}
	return pod, container, nil
}
