package deploy_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// Ctrl-C (SIGINT) and SIGTERM stop every phase of deploy and deploy update
// at once (issue 13 #2): exit 130, a message that says what was applied and
// what state is left, and the command that continues. signalBound tells a
// command that ignored the signal from one that stopped; it is no timing
// assertion.
const signalBound = 10 * time.Second

// notReadyTag is an api image tag whose pods run but never become ready: a
// wait for them neither ends nor fails fast.
const notReadyTag = "v0.0.0-notready"

func notReadyImage(t testing.TB, ns string) {
	t.Helper()
	harness.NotReadyStage(t, "piyasa-e2e-notready-"+ns, harness.Match{Key: ".metadata.namespace", Values: []string{ns}},
		harness.Match{Key: ".spec.containers.[0].image", Values: []string{app.APIImage + ":" + notReadyTag}})
}

// manyObjects writes a kustomization of the dev overlay plus n ConfigMaps,
// so that applying it takes long enough to be interrupted.
func manyObjects(t *testing.T, n int) string {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(harness.Env.Root, "manifests")
	for _, sub := range []string{"base", filepath.Join("overlays", "dev")} {
		to := filepath.Join(dir, filepath.Base(sub))
		if err := os.CopyFS(to, os.DirFS(filepath.Join(src, sub))); err != nil {
			t.Fatal(err)
		}
	}
	k := filepath.Join(dir, "dev", "kustomization.yaml")
	b, err := os.ReadFile(k)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k, []byte(strings.Replace(string(b), "../../base", "../base", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	var cms strings.Builder
	for i := range n {
		fmt.Fprintf(&cms, "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: filler-%03d\ndata:\n  n: %q\n", i, fmt.Sprint(i))
	}
	writeFile(t, dir, "filler.yaml", cms.String())
	writeFile(t, dir, "kustomization.yaml", "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n- dev\n- filler.yaml\n")
	return dir
}

// expectInterrupted checks the exit code and that stderr has every want.
func expectInterrupted(t *testing.T, r harness.Result, envFile string, want ...string) {
	t.Helper()
	noLeak(t, r, envFile)
	if r.Code != 130 {
		t.Fatalf("exit %d, want 130:\n%s", r.Code, r.Stderr)
	}
	for _, w := range want {
		if !strings.Contains(r.Stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, r.Stderr)
		}
	}
	if n := strings.Count("\n"+r.Stderr, "\nerror: "); n != 1 {
		t.Errorf("%d error lines, want one:\n%s", n, r.Stderr)
	}
}

// TestSignalDuringApply: a signal while deploy applies stops it before the
// next object; the objects applied stay, and the same deploy run again
// finishes (applying is idempotent).
func TestSignalDuringApply(t *testing.T) {
	dir := manyObjects(t, 400)
	for _, sig := range harness.Signals {
		t.Run(harness.SigName(sig), func(t *testing.T) {
			ns := harness.Namespace(t, "deploy-sig-apply")
			env := newEnvFile(t, ".env")
			run := harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env, "--manifests", dir).Background()
			run.WaitFor("configmap/filler-0", 2*time.Minute)
			run.Signal(sig)
			r := run.ExitWithin(signalBound)
			expectInterrupted(t, r, env, "error: interrupted after applying ", " objects: what was applied stays applied",
				"hint: run the same deploy again")
			applied := strings.Count(r.Stdout, "serverside-applied")
			cms, err := harness.Client(t).CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if n := len(cms.Items); n >= 400 {
				t.Errorf("%d ConfigMaps: the apply was not stopped (%d objects reported applied)", n, applied)
			}
			harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env, "--manifests", dir, "--wait=false").RunOK()
		})
	}
}

// TestSignalDuringWait: a signal while deploy waits for pods that never get
// ready ends the wait; what was applied stays.
func TestSignalDuringWait(t *testing.T) {
	for _, sig := range harness.Signals {
		t.Run(harness.SigName(sig), func(t *testing.T) {
			ns := harness.Namespace(t, "deploy-sig-wait")
			notReadyImage(t, ns)
			env := newEnvFile(t, ".env")
			run := harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env, "--image", notReadyTag, "--timeout", "10m").Background()
			run.WaitFor("Waiting for 5 workloads", 2*time.Minute)
			run.WaitFor("api ", time.Minute) // a first progress line: the watches are up
			run.Signal(sig)
			r := run.ExitWithin(signalBound)
			expectInterrupted(t, r, env, "error: interrupted while waiting: what was applied stays applied",
				"hint: follow the rollout with: kubectl piyasa deploy status -n "+ns)
			if img := status(t, ns).image(app.API); img != app.APIImage+":"+notReadyTag {
				t.Errorf("api image %q after the signal", img)
			}
		})
	}
}

// TestSignalDuringUpdateWait: a signal while deploy update waits leaves the
// new images set (no rollback) and names the rollback command.
func TestSignalDuringUpdateWait(t *testing.T) {
	for _, sig := range harness.Signals {
		t.Run(harness.SigName(sig), func(t *testing.T) {
			ns := harness.Namespace(t, "deploy-sig-upd")
			notReadyImage(t, ns)
			env := newEnvFile(t, ".env")
			harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env).WithTimeout(4 * time.Minute).RunOK()
			run := harness.Piyasa(t, "deploy", "update", "--env", "dev", "-n", ns, "--image", notReadyTag).Background()
			run.WaitFor("statefulset/dev-worker image ", time.Minute)
			run.WaitFor("worker ", time.Minute)
			run.Signal(sig)
			r := run.ExitWithin(signalBound)
			expectInterrupted(t, r, env, "error: interrupted while waiting for the update: api "+app.APIImage+":"+notReadyTag,
				"nothing was rolled back", "kubectl piyasa deploy rollback -n "+ns)
			d := status(t, ns)
			if d.image(app.API) != app.APIImage+":"+notReadyTag || d.image(app.Worker) != app.APIImage+":"+notReadyTag {
				t.Errorf("images after the signal: api %s worker %s", d.image(app.API), d.image(app.Worker))
			}
		})
	}
}

// TestSignalDuringAutoRollback (issue 13 #2): the update fails fast on a
// crash-looping image, its automatic rollback goes back to images whose pods
// never get ready, and a signal during the rollback's wait ends it at once
// (it was ignored: the rollback waited out its timeout). The old images are
// set back on both api and worker.
func TestSignalDuringAutoRollback(t *testing.T) {
	crashingImage(t)
	for _, sig := range harness.Signals {
		t.Run(harness.SigName(sig), func(t *testing.T) {
			ns := harness.Namespace(t, "deploy-sig-rb")
			notReadyImage(t, ns)
			env := newEnvFile(t, ".env")
			harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env, "--image", notReadyTag, "--wait=false").RunOK()
			old, bad := app.APIImage+":"+notReadyTag, app.APIImage+":"+crashTag
			run := harness.Piyasa(t, "deploy", "update", "--env", "dev", "-n", ns, "--image", crashTag, "--rollback-timeout", "10m").Background()
			run.WaitFor("statefulset/dev-worker image "+bad+" -> "+old+" (rolled back)", 3*time.Minute)
			run.Signal(sig)
			r := run.ExitWithin(signalBound)
			expectInterrupted(t, r, env, "is failing", "Rolling back to the previous images",
				"error: interrupted while waiting for the rollback: the update failed", "api "+old+", worker "+old+" are set back",
				"hint: follow it with: kubectl piyasa deploy status -n "+ns)
			d := status(t, ns)
			if d.image(app.API) != old || d.image(app.Worker) != old {
				t.Errorf("images after the signal: api %s worker %s, want both %s", d.image(app.API), d.image(app.Worker), old)
			}
		})
	}
}

// TestAutoRollbackFailsFastOnUnschedulable (issue 13 #1): when no node can
// take the api's pods (here a nodeSelector that matches no node; in the
// issue, an ephemeral-storage request on nodes without any), deploy update
// fails fast on the Unschedulable pod, and so does its automatic rollback,
// whose revision cannot be scheduled either: it does not wait out
// --rollback-timeout.
func TestAutoRollbackFailsFastOnUnschedulable(t *testing.T) {
	ns := harness.Namespace(t, "deploy-unsched")
	env := newEnvFile(t, ".env")
	harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env).WithTimeout(4 * time.Minute).RunOK()
	harness.Kubectl(t, "patch", "deployment", "dev-api", "-n", ns, "--type", "merge",
		"-p", `{"spec":{"template":{"spec":{"nodeSelector":{"piyasa.io/e2e-no-such-node":"x"}}}}}`).RunOK()
	eventually(t, 2*time.Minute, "an Unschedulable api pod", func() bool { return unschedulable(t, ns) })
	r := harness.Piyasa(t, "deploy", "update", "--env", "dev", "-n", ns, "--image", "v2.0.0", "--timeout", "5m", "--rollback-timeout", "5m").
		WithTimeout(12 * time.Minute).ExpectCode(1)
	noLeak(t, r, env)
	for _, want := range []string{"api is failing: pod dev-api-", "Unschedulable", "Rolling back to the previous images",
		"rolled back, but the rollback is not ready either: api deployment/dev-api is failing", "hint: see why: kubectl piyasa diagnose -n " + ns} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
		}
	}
	if strings.Contains(r.Stderr, "timed out after") {
		t.Errorf("a wait ran to its timeout instead of failing fast:\n%s", r.Stderr)
	}
}

// unschedulable tells whether an api pod of ns is Unschedulable.
func unschedulable(t *testing.T, ns string) bool {
	pods, err := harness.Client(t).CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: "app=piyasa-api"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
				return true
			}
		}
	}
	return false
}

// TestWaitFailsOnProgressDeadline (issue 13 #1): a Deployment that already
// reports ProgressDeadlineExceeded is a failed rollout for every wait, as for
// kubectl rollout status: deploy fails at once instead of waiting out --timeout.
func TestWaitFailsOnProgressDeadline(t *testing.T) {
	ns := harness.Namespace(t, "deploy-deadline")
	notReadyImage(t, ns)
	env := newEnvFile(t, ".env")
	harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env, "--image", notReadyTag, "--wait=false").RunOK()
	harness.Kubectl(t, "patch", "deployment", "dev-api", "-n", ns, "--type", "merge", "-p", `{"spec":{"progressDeadlineSeconds":1}}`).RunOK()
	eventually(t, 2*time.Minute, "ProgressDeadlineExceeded", func() bool {
		r := harness.Kubectl(t, "get", "deployment", "dev-api", "-n", ns, "-o", `jsonpath={.status.conditions[?(@.type=="Progressing")].reason}`).RunOK()
		return strings.TrimSpace(r.Stdout) == "ProgressDeadlineExceeded"
	})
	r := harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env, "--image", notReadyTag, "--timeout", "5m").
		WithTimeout(7 * time.Minute).ExpectCode(1)
	noLeak(t, r, env)
	for _, want := range []string{"error: api deployment/dev-api is failing: ProgressDeadlineExceeded", "exceeded its progress deadline",
		"hint: the rollout made no progress within its progressDeadlineSeconds"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.Stderr)
		}
	}
	if strings.Contains(r.Stderr, "timed out after") {
		t.Errorf("waited out the timeout:\n%s", r.Stderr)
	}
}
