package deploy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"time"

	"k8s.io/apimachinery/pkg/util/duration"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/recovery"
)

// recoveryTimeout bounds the one exec that lists the WAL archive, so that
// deploy status stays quick when the pod does not answer.
const recoveryTimeout = 10 * time.Second

// RecoveryStatus is the `recovery` part of `deploy status`: what the postgres
// pod's WAL archive holds (shared/recovery, the reading `backup status`
// uses). The window itself needs the base backups off the cluster:
// `backup status --to|--dir` shows it.
type RecoveryStatus struct {
	// Archive is nil when the archive could not be read (Message says why).
	Archive *recovery.Archive `json:"archive,omitempty"`
	// Message says it in one line.
	Message string `json:"message"`
}

// podExec runs cmd in a container and writes its standard output to stdout.
type podExec func(ctx context.Context, pod, container string, cmd []string, stdout io.Writer) error

// recoveryStatus lists the WAL archive in the postgres pod and reads its chain.
func recoveryStatus(ctx context.Context, cs kubernetes.Interface, ns string, exec podExec, now time.Time) *RecoveryStatus {
	pod, container, err := kube.PostgresPod(ctx, cs, ns)
	if err != nil {
		return &RecoveryStatus{Message: "unknown: " + output.FirstLine(err.Error())}
	}
	c, cancel := context.WithTimeout(ctx, recoveryTimeout)
	defer cancel()
	var out bytes.Buffer
	err = exec(c, pod.Name, container, recovery.ListCommand(), &out)
	files, perr := recovery.ParseList(out.Bytes())
	if err != nil || perr != nil {
		why := perr
		if err != nil {
			why = err
		}
		return &RecoveryStatus{Message: fmt.Sprintf("unknown: cannot list the WAL archive ($%s) in pod %s: %s", app.EnvWALArchiveDir, pod.Name, output.FirstLine(why.Error()))}
	}
	a := recovery.ReadArchive(files)
	msg := a.Line(now, duration.HumanDuration)
	if a.Newest != "" {
		msg += fmt.Sprintf("; the window: kubectl piyasa backup status -n %s --to s3://BUCKET/PREFIX", ns)
	}
	return &RecoveryStatus{Archive: &a, Message: msg}
}

// kubeExec is the podExec of the real cluster.
func (o *StatusOptions) kubeExec(cs kubernetes.Interface) (podExec, error) {
	cfg, err := o.RESTConfig()
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context, pod, container string, cmd []string, stdout io.Writer) error {
		return kube.Exec(ctx, cfg, cs, o.Namespace, pod, container, cmd, kube.ExecStreams{Stdout: stdout, Stderr: io.Discard})
	}, nil
}

// readRecovery fills the recovery and replication parts when the postgres component is found.
func (o *StatusOptions) readRecovery(ctx context.Context, cs kubernetes.Interface, st *Status) {
	for _, c := range st.Components {
		if c.Component != app.Postgres || !c.Found {
			continue
		}
		exec := o.Exec
		if exec == nil {
			var err error
			if exec, err = o.kubeExec(cs); err != nil {
				return
			}
		}
		st.Recovery = recoveryStatus(ctx, cs, o.Namespace, exec, o.Now())
		st.Replication = replicationStatus(ctx, cs, o.Namespace, exec)
	}
}
