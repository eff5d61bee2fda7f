package backup

import (
	"context"
	"io"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

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

// PostgresPod finds the running postgres pod of the namespace and its
// container (kube.PostgresPod).
func PostgresPod(ctx context.Context, cs kubernetes.Interface, ns string) (*corev1.Pod, string, error) {
	return kube.PostgresPod(ctx, cs, ns)
}
