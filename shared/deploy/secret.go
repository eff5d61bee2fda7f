package deploy

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/envfile"
)

// loadEnvFile reads and validates a .env for the environment; every problem
// is a usage error (exit 2) naming lines and keys, never values.
func loadEnvFile(path string, env app.Environment, llmProvider string) (*envfile.File, error) {
	if path == "" {
		return nil, cli.Usagef("no .env file given: use --env-file FILE").WithHint("make one with: kubectl piyasa deploy init-env -f .env")
	}
	f, err := envfile.ReadFile(path)
	if err != nil {
		e := cli.Usagef("%v", err)
		if strings.Contains(err.Error(), "no such file") {
			e = e.WithHint("make one with: kubectl piyasa deploy init-env -f %s", path)
		}
		return nil, e
	}
	problems := envfile.Validate(f, envfile.RulesFor(env, llmProvider))
	if len(problems) > 0 {
		msgs := make([]string, len(problems))
		for i, p := range problems {
			msgs[i] = p.String()
		}
		return nil, cli.Usagef("%s: %s", path, strings.Join(msgs, "; ")).WithHint("fix the file; nothing was applied to the cluster")
	}
	return f, nil
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

// putSecret creates Secret piyasa-secrets or replaces its data wholesale, so
// that keys dropped from the .env disappear. It returns what changed, by key.
func putSecret(ctx context.Context, cs kubernetes.Interface, s *corev1.Secret, dryRun string) (secretChange, error) {
	opts := dryRunOpt(dryRun)
	cur, err := cs.CoreV1().Secrets(s.Namespace).Get(ctx, s.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		if dryRun == DryRunClient {
			return secretChange{Created: true}, nil
		}
		_, err = cs.CoreV1().Secrets(s.Namespace).Create(ctx, s, metav1.CreateOptions{FieldManager: app.FieldManager, DryRun: opts})
		if err != nil {
			return secretChange{}, safeErr(fmt.Sprintf("cannot create Secret %s: %s", s.Name, apiReason(err)), err)
		}
		return secretChange{Created: true}, nil
	}
	if err != nil {
		return secretChange{}, safeErr("cannot read Secret "+s.Name+": "+apiReason(err), err)
	}
	change := compareSecret(cur.Data, s.Data)
	if change.Empty() || dryRun == DryRunClient {
		return change, nil
	}
	cur.Data = s.Data
	cur.StringData = nil
	if cur.Labels == nil {
		cur.Labels = map[string]string{}
	}
	cur.Labels[app.PartOfLabel] = app.PartOfValue
	if _, err := cs.CoreV1().Secrets(s.Namespace).Update(ctx, cur, metav1.UpdateOptions{FieldManager: app.FieldManager, DryRun: opts}); err != nil {
		return change, safeErr(fmt.Sprintf("cannot update Secret %s: %s", s.Name, apiReason(err)), err)
	}
	return change, nil
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
	return firstLine(err.Error())
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
