package kube

import (
	"context"
	"io"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
)

// ExecStreams are the streams of a command run in a container; a nil stream
// is not opened.
type ExecStreams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Exec runs cmd in a container of pod ns/pod through the API server's exec
// subresource, the suite's one way into a pod: WebSocket (protocol v5,
// kubectl's default since 1.30, which carries the close of stdin) and SPDY
// only when the WebSocket upgrade itself failed or an HTTPS proxy refused it,
// as kubectl's predicate (pkg/cmd/exec) says. A stream that failed after it
// started is never re-run: that would run pg_dump or psql a second time. ctx
// bounds the stream (it does not stop the remote process).
func Exec(ctx context.Context, cfg *rest.Config, cs kubernetes.Interface, ns, pod, container string, cmd []string, s ExecStreams) error {
	req := cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container, Command: cmd, Stdin: s.Stdin != nil, Stdout: s.Stdout != nil, Stderr: s.Stderr != nil,
		}, scheme.ParameterCodec)
	ws, err := remotecommand.NewWebSocketExecutor(cfg, http.MethodGet, req.URL().String())
	if err != nil {
		return err
	}
	spdy, err := remotecommand.NewSPDYExecutor(cfg, http.MethodPost, req.URL())
	if err != nil {
		return err
	}
	ex, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return err
	}
	return ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: s.Stdin, Stdout: s.Stdout, Stderr: s.Stderr})
}
