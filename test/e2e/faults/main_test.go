// Package faults_test injects faults into real commands on the local
// cluster: the kube-apiserver killed (SIGKILL) and restarted while a command
// waits, follows a log or streams a backup, and a backup target that fills
// up. Stopping the API server breaks every request of the package, so these
// tests have their own cluster and run one at a time (no t.Parallel).
package faults_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/yaml"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

func TestMain(m *testing.M) { harness.FaultsMain(m, harness.WithMigratePython()) }

var dev = app.Environments["dev"]

// Lines every command prints on an outage (kube.Connection).
const (
	lostLine     = "connection to the API server at "
	regainedLine = "connection to the API server regained after "
)

// running is a command started in the background.
type running struct {
	t              *testing.T
	line           string
	cmd            *exec.Cmd
	stdout, stderr *harness.SyncBuffer
	done           chan struct{}
	err            error
}

func start(t *testing.T, c *harness.Cmd) *running {
	t.Helper()
	r := &running{t: t, line: c.String(), stdout: &harness.SyncBuffer{}, stderr: &harness.SyncBuffer{}, done: make(chan struct{})}
	r.cmd = c.Start(r.stdout, r.stderr)
	go func() { r.err = r.cmd.Wait(); close(r.done) }()
	t.Cleanup(func() {
		select {
		case <-r.done:
		default:
			_ = r.cmd.Process.Kill()
			<-r.done
		}
	})
	return r
}

// waitFor waits until out holds s; it fails the test if the command ends first.
func (r *running) waitFor(out *harness.SyncBuffer, s string, limit time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(out.String(), s) {
		select {
		case <-r.done:
			if strings.Contains(out.String(), s) {
				return
			}
			r.t.Fatalf("%s ended before printing %q\nstdout:\n%s\nstderr:\n%s", r.line, s, r.stdout, r.stderr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("%s did not print %q within %s\nstdout:\n%s\nstderr:\n%s", r.line, s, limit, r.stdout, r.stderr)
		}
	}
}

// wait waits for the command's end and returns its result.
func (r *running) wait(limit time.Duration) harness.Result {
	r.t.Helper()
	select {
	case <-r.done:
	case <-time.After(limit):
		_ = r.cmd.Process.Kill()
		<-r.done
		r.t.Fatalf("%s did not end within %s\nstdout:\n%s\nstderr:\n%s", r.line, limit, r.stdout, r.stderr)
	}
	res := harness.Result{Stdout: r.stdout.String(), Stderr: r.stderr.String()}
	var ee *exec.ExitError
	if errors.As(r.err, &ee) {
		res.Code = ee.ExitCode()
	} else if r.err != nil {
		r.t.Fatalf("%s: %v", r.line, r.err)
	}
	r.t.Logf("$ %s  # exit %d\nstderr:\n%s", r.line, res.Code, res.Stderr)
	return res
}

// expectCode fails the test unless res exited with code.
func expectCode(t *testing.T, res harness.Result, code int) {
	t.Helper()
	if res.Code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", res.Code, code, res.Stdout, res.Stderr)
	}
}

// outageReported checks that stderr says once that the connection was lost
// and once that it was regained, in that order.
func outageReported(t *testing.T, stderr string) {
	t.Helper()
	lost, regained := strings.Count(stderr, lostLine), strings.Count(stderr, regainedLine)
	if lost != 1 || regained != 1 || strings.Index(stderr, lostLine) > strings.Index(stderr, regainedLine) {
		t.Errorf("want one %q line, then one %q line; got %d and %d:\n%s", lostLine+"... lost", regainedLine, lost, regained, stderr)
	}
	if !strings.Contains(stderr, lostLine+harness.Env.Server+" lost (") {
		t.Errorf("the lost line does not name the API server %s:\n%s", harness.Env.Server, stderr)
	}
}

// errorLines returns the "error: " lines of stderr.
func errorLines(stderr string) []string {
	var out []string
	for _, l := range strings.Split(stderr, "\n") {
		if strings.HasPrefix(l, "error: ") {
			out = append(out, l)
		}
	}
	return out
}

// releaseAnnotation lets a held pod become ready (holdPods).
const releaseAnnotation = "faults.piyasa.io/release"

// holdPods keeps the new pods of namespace ns Pending (scheduled, not
// started) until releasePods lets them go, so that an outage is sure to fall
// inside a command's wait: two kwok Stages of weight 1 (kwok's own pod-ready
// has weight 0, and is not chosen while one of them matches): one that holds
// the pods without the release annotation (its next step comes after an
// hour), and kwok's pod-ready for the pods with it.
func holdPods(t *testing.T, ns string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(harness.Env.ClusterBin, "kwok-stages.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var ready map[string]any
	for _, doc := range strings.Split(string(raw), "\n---") {
		var m map[string]any
		if yaml.Unmarshal([]byte(doc), &m) == nil && m != nil {
			if md, _ := m["metadata"].(map[string]any); md != nil && md["name"] == "pod-ready" {
				ready = m
			}
		}
	}
	if ready == nil {
		t.Fatal("kwok-stages.yaml has no pod-ready Stage")
	}
	key := fmt.Sprintf(`.metadata.annotations["%s"]`, releaseAnnotation)
	inNS := map[string]any{"key": ".metadata.namespace", "operator": "In", "values": []any{ns}}
	spec := ready["spec"].(map[string]any)
	sel := spec["selector"].(map[string]any)
	exprs := sel["matchExpressions"].([]any)
	sel["matchExpressions"] = append(append([]any{}, exprs...), inNS, map[string]any{"key": key, "operator": "Exists"})
	spec["weight"] = 1
	ready["metadata"] = map[string]any{"name": "faults-ready-" + ns}
	hold := map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Stage", "metadata": map[string]any{"name": "faults-hold-" + ns},
		"spec": map[string]any{
			"resourceRef": spec["resourceRef"], "weight": 1,
			"selector": map[string]any{"matchExpressions": append(append([]any{}, exprs...), inNS, map[string]any{"key": key, "operator": "DoesNotExist"})},
			"delay":    map[string]any{"durationMilliseconds": int64(time.Hour / time.Millisecond)},
			"next":     map[string]any{"event": map[string]any{"type": "Normal", "reason": "FaultsHeld", "message": "held by a fault test"}},
		},
	}
	for _, st := range []map[string]any{hold, ready} {
		b, err := yaml.Marshal(st)
		if err != nil {
			t.Fatal(err)
		}
		harness.ApplyYAML(t, "", string(b))
		name := st["metadata"].(map[string]any)["name"].(string)
		t.Cleanup(func() { harness.Kubectl(t, "delete", "stage", name, "--ignore-not-found").Run() })
	}
}

// releasePods lets the held pods of ns become ready, those that exist and
// those created later, until the test ends (it plays the part of images
// that start).
func releasePods(t *testing.T, ns string) {
	t.Helper()
	cs := harness.Client(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	patch := []byte(fmt.Sprintf(`{"metadata":{"annotations":{%q:"true"}}}`, releaseAnnotation))
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			if list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); err == nil {
				for _, p := range list.Items {
					if _, ok := p.Annotations[releaseAnnotation]; !ok {
						if _, err := cs.CoreV1().Pods(ns).Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err == nil {
							t.Logf("released pod %s", p.Name)
						} else if ctx.Err() == nil {
							t.Logf("release pod %s: %v", p.Name, err)
						}
					}
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
}

// deployDev deploys the dev overlay into a fresh namespace without waiting
// and returns the namespace and the .env file.
func deployDev(t *testing.T) (ns, envFile string) {
	t.Helper()
	ns = harness.Namespace(t, "faults")
	envFile = filepath.Join(t.TempDir(), "dev.env")
	harness.Piyasa(t, "deploy", "init-env", "-f", envFile).RunOK()
	harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", envFile, "--wait=false").RunOK()
	return ns, envFile
}

// waitComponents waits until the named components of ns are rolled out.
func waitComponents(t *testing.T, ns string, names ...string) {
	t.Helper()
	var ws []kube.Workload
	for _, n := range names {
		c, _ := app.LookupComponent(n)
		ws = append(ws, kube.Workload{Component: n, Kind: c.Kind, Name: dev.WorkloadName(c)})
	}
	if _, err := kube.WaitForWorkloads(context.Background(), harness.Client(t), ns, ws, kube.WaitOptions{Timeout: 3 * time.Minute}); err != nil {
		r := harness.Kubectl(t, "get", "deploy,rs,sts,pods", "-n", ns, "-o", "wide").Run()
		e := harness.Kubectl(t, "get", "events", "-n", ns).Run()
		t.Fatalf("%v not ready in %s: %v\n%s\n%s", names, ns, err, r.Stdout, e.Stdout)
	}
}
