package migrate

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// Execer runs a command in a pod's container and returns its output. The
// default execs through the API server (client-go remotecommand); tests set another.
type Execer interface {
	Exec(ctx context.Context, ns, pod, container string, command []string) (stdout, stderr string, err error)
}

// ExecTimeout bounds each exec (a client-side timeout does not stop the remote
// process, but these commands are short).
const ExecTimeout = 60 * time.Second

// remoteExecer execs over WebSocket, falling back to SPDY exactly when kubectl does.
type remoteExecer struct {
	cfg *rest.Config
	cs  kubernetes.Interface
}

// NewRemoteExecer returns the default Execer for g's cluster.
func NewRemoteExecer(g *cli.Global) (Execer, error) {
	cfg, err := g.RESTConfig()
	if err != nil {
		return nil, err
	}
	cs, err := g.Clientset()
	if err != nil {
		return nil, err
	}
	return &remoteExecer{cfg: cfg, cs: cs}, nil
}

func (e *remoteExecer) Exec(ctx context.Context, ns, pod, container string, command []string) (string, string, error) {
	ctx, cancel := context.WithTimeout(ctx, ExecTimeout)
	defer cancel()
	var out, errOut bytes.Buffer
	err := kube.Exec(ctx, e.cfg, e.cs, ns, pod, container, command, kube.ExecStreams{Stdout: &out, Stderr: &errOut})
	return out.String(), errOut.String(), err
}

// CheckPostgres runs pg_isready inside a ready PostgreSQL pod (on its own
// loopback, as the pod's readiness probe does): the server must accept
// connections before a migration Job is created.
func CheckPostgres(ctx context.Context, cs kubernetes.Interface, ex Execer, ns string) (string, error) {
	pods, err := readyPods(ctx, cs, ns, app.Postgres)
	if err != nil {
		return "", err
	}
	if len(pods) == 0 {
		return "", cli.Failedf("PostgreSQL is not ready in namespace %s: no ready postgres pod", ns).
			WithHint("look at it first: kubectl piyasa diagnose -n %s", ns)
	}
	p := pods[0]
	container := p.Spec.Containers[0].Name
	cmd := []string{"pg_isready", "-h", "127.0.0.1", "-U", app.DatabaseUser, "-d", app.DatabaseName, "-t", "5"}
	out, errOut, err := ex.Exec(ctx, ns, p.Name, container, cmd)
	if err != nil {
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		detail := strings.TrimSpace(strings.TrimSpace(out) + " " + strings.TrimSpace(errOut))
		if detail == "" {
			detail = err.Error()
		}
		return "", cli.Failedf("PostgreSQL in pod %s does not accept connections: %s", p.Name, detail).
			WithHint("no Job was created; check the database: kubectl logs -n %s %s", ns, p.Name)
	}
	return fmt.Sprintf("PostgreSQL accepts connections (pg_isready in pod %s)", p.Name), nil
}
