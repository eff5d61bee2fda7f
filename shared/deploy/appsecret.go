package deploy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/envfile"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// readEnvFile reads and parses a .env (the I/O of Complete); every problem
// is a usage error (exit 2) naming lines and keys, never values.
func readEnvFile(path string) (*envfile.File, error) {
	if path == "" {
		return nil, cli.Usagef("no .env file given: use --env-file FILE").WithHint("make one with: kubectl piyasa deploy init-env -f .env")
	}
	f, err := envfile.ReadFile(path)
	if err != nil {
		e := cli.Usagef("%v", err)
		if errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "no such file") {
			e = e.WithHint("make one with: kubectl piyasa deploy init-env -f %s", path)
		}
		return nil, e
	}
	return f, nil
}

// validateEnvFile checks a parsed .env for the environment (no I/O). The LLM
// provider is the .env's own LLM_PROVIDER when it has one (it wins in the
// pods), else llmProvider (the ConfigMap's).
func validateEnvFile(f *envfile.File, env app.Environment, llmProvider string) error {
	problems := envfile.Validate(f, envfile.RulesFor(env, llmProvider))
	if len(problems) > 0 {
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = p.String()
		}
		return cli.Usagef("%s: %s", f.Name, strings.Join(msgs, "; ")).WithHint("fix the file; nothing was applied to the cluster")
	}
	return nil
}

// secretObject builds Secret piyasa-secrets from a .env.
func secretObject(ns string, f *envfile.File) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name: app.SecretName, Namespace: ns,
			Labels: map[string]string{app.PartOfLabel: app.PartOfValue},
		},
		Type: corev1.SecretTypeOpaque,
		Data: f.Data(),
	}
}

// secretChange summarises a Secret change by key names only.
type secretChange struct {
	Created                 bool
	Added, Removed, Changed []string
}

func (c secretChange) String() string {
	if c.Created {
		return "created"
	}
	var parts []string
	if len(c.Added) > 0 {
		parts = append(parts, "added "+strings.Join(c.Added, ","))
	}
	if len(c.Removed) > 0 {
		parts = append(parts, "removed "+strings.Join(c.Removed, ","))
	}
	if len(c.Changed) > 0 {
		parts = append(parts, "changed "+strings.Join(c.Changed, ","))
	}
	if len(parts) == 0 {
		return "unchanged"
	}
	return strings.Join(parts, "; ")
}

// Empty is true when nothing changes.
func (c secretChange) Empty() bool {
	return !c.Created && len(c.Added)+len(c.Removed)+len(c.Changed) == 0
}

func compareSecret(old map[string][]byte, new map[string][]byte) secretChange {
	var c secretChange
	for k, v := range new {
		ov, ok := old[k]
		switch {
		case !ok:
			c.Added = append(c.Added, k)
		case string(ov) != string(v):
			c.Changed = append(c.Changed, k)
		}
	}
	for k := range old {
		if _, ok := new[k]; !ok {
			c.Removed = append(c.Removed, k)
		}
	}
	sort.Strings(c.Added)
	sort.Strings(c.Removed)
	sort.Strings(c.Changed)
	return c
}

// secretPlan is what putting a .env into Secret piyasa-secrets changes.
type secretPlan struct {
	want   *corev1.Secret
	cur    *corev1.Secret // nil: the Secret does not exist
	change secretChange
}

// planSecret reads Secret piyasa-secrets and compares it, by key, with the
// Secret made from a .env.
func planSecret(ctx context.Context, cs kubernetes.Interface, want *corev1.Secret) (secretPlan, error) {
	cur, err := cs.CoreV1().Secrets(want.Namespace).Get(ctx, want.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return secretPlan{want: want, change: secretChange{Created: true}}, nil
	}
	if err != nil {
		// A read's error never holds the object: the API's message (naming
		// a missing right) is safe to show.
		return secretPlan{}, fmt.Errorf("cannot read Secret %s: %w", want.Name, err)
	}
	return secretPlan{want: want, cur: cur, change: compareSecret(cur.Data, want.Data)}, nil
}

// applySecret creates the Secret or replaces its data wholesale, so that keys
// dropped from the .env disappear. A Secret changed meanwhile (Conflict) is
// read again and replaced once more.
func applySecret(ctx context.Context, cs kubernetes.Interface, sp secretPlan, dryRun cli.DryRun) error {
	if sp.change.Empty() || dryRun.Client() {
		return nil
	}
	s := sp.want
	opts := dryRun.Server()
	if sp.cur == nil {
		_, err := cs.CoreV1().Secrets(s.Namespace).Create(ctx, s, metav1.CreateOptions{FieldManager: app.FieldManager, DryRun: opts})
		if err != nil {
			if kube.NamespaceTerminating(err) {
				return kube.TerminatingError(s.Namespace)
			}
			return safeErr(fmt.Sprintf("cannot create Secret %s: %s", s.Name, apiReason(err)), err)
		}
		return nil
	}
	cur := sp.cur.DeepCopy()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur.Data = s.Data
		cur.StringData = nil
		if cur.Labels == nil {
			cur.Labels = map[string]string{}
		}
		cur.Labels[app.PartOfLabel] = app.PartOfValue
		_, err := cs.CoreV1().Secrets(s.Namespace).Update(ctx, cur, metav1.UpdateOptions{FieldManager: app.FieldManager, DryRun: opts})
		if apierrors.IsConflict(err) {
			if fresh, gerr := cs.CoreV1().Secrets(s.Namespace).Get(ctx, s.Name, metav1.GetOptions{}); gerr == nil {
				cur = fresh
			}
		}
		return err
	})
	if err != nil {
		return safeErr(fmt.Sprintf("cannot update Secret %s: %s", s.Name, apiReason(err)), err)
	}
	return nil
}

// apiReason returns an API error's message without echoing the object (a
// rejected Secret must not show its data).
func apiReason(err error) string {
	if s, ok := err.(apierrors.APIStatus); ok {
		st := s.Status()
		if st.Reason != "" {
			return fmt.Sprintf("%s (%d)", st.Reason, st.Code)
		}
	}
	return output.FirstLine(err.Error())
}

// secretError keeps the API error for exit-code classification but shows
// only a message that cannot hold a Secret value.
type secretError struct {
	msg string
	err error
}

func (e *secretError) Error() string { return e.msg }
func (e *secretError) Unwrap() error { return e.err }

func safeErr(msg string, err error) error { return &secretError{msg: msg, err: err} }
