package deploy

import (
	"bytes"
	"context"

	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/replication"
)

// replicationStatus reads streaming replication in the postgres pod with one
// psql exec (shared/replication). It is nil when the server neither is a
// standby nor has one, and when it cannot be read: the recovery line already
// says when the pod does not answer, and a database without replication is
// the common case, not worth a line.
func replicationStatus(ctx context.Context, cs kubernetes.Interface, ns string, exec podExec) *replication.Status {
	pod, container, err := kube.PostgresPod(ctx, cs, ns)
	if err != nil {
		return nil
	}
	c, cancel := context.WithTimeout(ctx, recoveryTimeout)
	defer cancel()
	var out bytes.Buffer
	if err := exec(c, pod.Name, container, replication.Command(), &out); err != nil {
		return nil
	}
	s, err := replication.Parse(out.String())
	if err != nil || !s.Replicating() {
		return nil
	}
	return s
}
