package logs

import (
	"context"
	"fmt"
	"sync"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/redact"
)

// masker is the redact.Masker of the lines, and the Secrets read into it.
type masker struct {
	m    *redact.Masker
	mu   sync.Mutex
	read map[string]bool // Secret names read at least once
}

func newMasker() *masker { return &masker{m: redact.NewMasker(), read: map[string]bool{}} }

// mask returns s with every known secret value and credential pattern masked.
func (m *masker) mask(s string) string { return m.m.Scrub(s) }

// readSecrets GETs the named Secrets and adds their values; again reads a
// Secret already read (a pod that starts during -f may come with a rotated
// one). A Secret that does not exist has nothing to mask. Any other failure
// is an error: the lines cannot be masked, so none may be printed.
func (m *masker) readSecrets(ctx context.Context, cs kubernetes.Interface, ns string, names []string, again bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, n := range names {
		if m.read[n] && !again {
			continue
		}
		s, err := cs.CoreV1().Secrets(ns).Get(ctx, n, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			m.read[n] = true
			continue
		}
		if err != nil {
			if apierrors.IsForbidden(err) {
				return &cli.Error{Code: cli.ExitCluster,
					Msg: fmt.Sprintf("cannot read Secret %s to mask its values in the logs: %s", n, output.FirstLine(err.Error())),
					Hint: fmt.Sprintf("missing RBAC right: get secrets in namespace %s (check: kubectl auth can-i get secrets -n %s); "+
						"--no-mask prints the logs without masking the Secret values", ns, ns)}
			}
			return fmt.Errorf("cannot read Secret %s to mask its values in the logs: %w", n, err)
		}
		m.read[n] = true
		m.m.Add(redact.SecretData(s.Data)...)
	}
	return nil
}
