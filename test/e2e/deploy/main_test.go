// Package deploy_test exercises `kubectl piyasa deploy` end to end on the
// local kwok cluster, as a user types it.
package deploy_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

// newEnvFile writes a fresh .env with `deploy init-env` and returns its
// path; its secret values hold the harness's canary (harness.InitEnv).
func newEnvFile(t testing.TB, name string) string {
	t.Helper()
	return harness.InitEnv(t, filepath.Join(t.TempDir(), name))
}

// noLeak fails (without printing the value) when output holds a secret value.
func noLeak(t testing.TB, r harness.Result, envFiles ...string) {
	t.Helper()
	harness.NoLeak(t, r.Stdout+r.Stderr, envFiles...)
}

// statusDoc is the `deploy status -o json` document.
type statusDoc struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Ready      bool   `json:"ready"`
	Components []struct {
		Component string `json:"component"`
		Kind      string `json:"kind"`
		Workload  string `json:"workload"`
		Desired   int32  `json:"desired"`
		Ready     int32  `json:"ready"`
		Image     string `json:"image"`
		RolledOut bool   `json:"rolledOut"`
	} `json:"components"`
}

// status runs `deploy status -o json`, which exits 0 when ready and 1 when not.
func status(t testing.TB, ns string) statusDoc {
	t.Helper()
	r := harness.Piyasa(t, "deploy", "status", "--env", "dev", "-n", ns, "-o", "json").Run()
	var d statusDoc
	if err := json.Unmarshal([]byte(r.Stdout), &d); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, r.Stdout)
	}
	if want := map[bool]int{true: 0, false: 1}[d.Ready]; r.Code != want {
		t.Fatalf("status exited %d with ready=%v (want %d)\n%s", r.Code, d.Ready, want, r.Stderr)
	}
	return d
}

func (d statusDoc) image(comp string) string {
	for _, c := range d.Components {
		if c.Component == comp {
			return c.Image
		}
	}
	return ""
}

func writeFile(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// podUID returns the UID of the only pod matching a selector.
func podUIDs(t testing.TB, ns, selector string) []string {
	t.Helper()
	pods, err := harness.Client(t).CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			out = append(out, string(p.UID))
		}
	}
	return out
}

func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
