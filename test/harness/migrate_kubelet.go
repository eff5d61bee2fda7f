package harness

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

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

// MigrateKubelet plays the kubelet for the migration pods of one namespace:
// PodKubelet for the pods labelled app.MigrationLabel, running their commands
// in WorkDir with ExtraEnv (`python` as MigratePython). A ClusterExec maps
// `kubectl exec` into the namespace's pods to local commands in WorkDir with
// ExecDeployment's environment; `python` resolves through the kwok
// controller's PATH (see MigratePythonShim). Everything stops when the test ends.
func MigrateKubelet(t testing.TB, opts MigrateKubeletOptions) {
	t.Helper()
	if opts.ExecDeployment != "" {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		migrateClusterExec(t, ctx, Client(t), opts)
	}
	PodKubelet(t, PodKubeletOptions{Namespace: opts.Namespace, Label: app.MigrationLabel, WorkDir: opts.WorkDir,
		Env: append([]string{"PYTHONDONTWRITEBYTECODE=1"}, opts.ExtraEnv...), PythonShim: true})
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
