package deploy_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/envfile"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// TestLifecycle walks the guide's Procedures 1 and 2 in one dev namespace:
// deploy from a generated .env, status, diff, config set, update, rollback,
// a failed update rolled back automatically, secret rotation and delete.
func TestLifecycle(t *testing.T) {
	ns := harness.Namespace(t, "deploy")
	env := newEnvFile(t, ".env")
	cs := harness.Client(t)
	ctx := context.Background()
	v1 := app.APIImage + ":v1.0.0"

	// Procedure 1: a full dev deploy reaches ready.
	r := harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env, "--timeout", "3m").RunOK()
	noLeak(t, r, env)
	for _, want := range []string{"secret/piyasa-secrets created", "deployment/dev-api serverside-applied", "dev-worker-1", "Running",
		"kubectl port-forward -n " + ns + " svc/dev-api-service 8000:8000"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("deploy output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if !strings.Contains(r.Stderr, "worker    2/2 ready, rolled out") {
		t.Errorf("no progress per component:\n%s", r.Stderr)
	}
	st := status(t, ns)
	if !st.Ready || len(st.Components) != 5 || st.APIVersion != app.APIVersion || st.Kind != "DeployStatus" {
		t.Fatalf("status after deploy: %+v", st)
	}
	if st.image(app.API) != v1 || st.image(app.Worker) != v1 {
		t.Fatalf("images %s %s", st.image(app.API), st.image(app.Worker))
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("diagnose finds no error", func(t *testing.T) {
		// The suite's own checker agrees that the manifests avoid DESIGN's traps.
		r := harness.Piyasa(t, "diagnose", "--env", "dev", "-n", ns, "--fail-on", "error").Run()
		if r.Code != 0 {
			t.Fatalf("diagnose exit %d on a healthy dev deploy:\n%s\n%s", r.Code, r.Stdout, r.Stderr)
		}
	})

	t.Run("diff", func(t *testing.T) {
		harness.Piyasa(t, "deploy", "diff", "--env", "dev", "-n", ns, "--env-file", env).ExpectCode(0)
		harness.Kubectl(t, "-n", ns, "patch", "configmap", "dev-piyasa-config", "--type", "merge", "-p", `{"data":{"LOG_LEVEL":"ERROR"}}`).RunOK()
		r := harness.Piyasa(t, "deploy", "diff", "--env", "dev", "-n", ns).ExpectCode(1)
		if !strings.Contains(r.Stdout, "-  LOG_LEVEL: ERROR") || !strings.Contains(r.Stdout, "+  LOG_LEVEL: DEBUG") {
			t.Fatalf("diff output:\n%s", r.Stdout)
		}
		other := newEnvFile(t, ".env.other")
		r = harness.Piyasa(t, "deploy", "diff", "--env", "dev", "-n", ns, "--env-file", other).ExpectCode(1)
		noLeak(t, r, env, other)
		if !strings.Contains(r.Stdout, "secret/piyasa-secrets: changed API_KEY,DATABASE_PASSWORD") {
			t.Fatalf("secret diff:\n%s", r.Stdout)
		}
	})

	t.Run("config set restarts api and worker only", func(t *testing.T) {
		pg := podUIDs(t, ns, "app=postgres")
		redis := podUIDs(t, ns, "app=redis")
		r := harness.Piyasa(t, "deploy", "config", "set", "LOG_LEVEL=INFO", "LLM_MODEL=gpt-4o", "--env", "dev", "-n", ns).RunOK()
		if !strings.Contains(r.Stdout, "deployment/dev-api restarted") || !strings.Contains(r.Stdout, "statefulset/dev-worker restarted") || strings.Contains(r.Stdout, "postgres") {
			t.Fatalf("config set output:\n%s", r.Stdout)
		}
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, "dev-piyasa-config", metav1.GetOptions{})
		if err != nil || cm.Data["LOG_LEVEL"] != "INFO" || cm.Data["LLM_MODEL"] != "gpt-4o" {
			t.Fatalf("configmap: %v %v", err, cm.Data)
		}
		api, _ := cs.AppsV1().Deployments(ns).Get(ctx, "dev-api", metav1.GetOptions{})
		worker, _ := cs.AppsV1().StatefulSets(ns).Get(ctx, "dev-worker", metav1.GetOptions{})
		pgd, _ := cs.AppsV1().Deployments(ns).Get(ctx, "dev-postgres", metav1.GetOptions{})
		fe, _ := cs.AppsV1().Deployments(ns).Get(ctx, "dev-frontend", metav1.GetOptions{})
		const ann = "kubectl.kubernetes.io/restartedAt"
		if api.Spec.Template.Annotations[ann] == "" || worker.Spec.Template.Annotations[ann] == "" {
			t.Fatal("api or worker not restarted")
		}
		if pgd.Spec.Template.Annotations[ann] != "" || fe.Spec.Template.Annotations[ann] != "" {
			t.Fatal("postgres or frontend restarted")
		}
		if got := podUIDs(t, ns, "app=postgres"); strings.Join(got, ",") != strings.Join(pg, ",") {
			t.Fatalf("postgres pod replaced: %v -> %v", pg, got)
		}
		if got := podUIDs(t, ns, "app=redis"); strings.Join(got, ",") != strings.Join(redis, ",") {
			t.Fatalf("redis pod replaced: %v -> %v", redis, got)
		}
		harness.Piyasa(t, "deploy", "config", "set", "DATABASE_URL=postgresql://u:pw@h/db", "-n", ns, "--env", "dev").ExpectCode(2)
		harness.Piyasa(t, "deploy", "config", "set", "TOTAL_WORKERS=5", "-n", ns, "--env", "dev").ExpectCode(2)
		harness.Piyasa(t, "deploy", "config", "unset", "REDIS_URL", "-n", ns, "--env", "dev").ExpectCode(2)
	})

	t.Run("update then rollback", func(t *testing.T) {
		v2 := app.APIImage + ":v2.0.0"
		harness.Piyasa(t, "deploy", "update", "--image", "v2.0.0", "--env", "dev", "-n", ns).RunOK()
		st := status(t, ns)
		if st.image(app.API) != v2 || st.image(app.Worker) != v2 || !st.Ready {
			t.Fatalf("after update: %+v", st)
		}
		r := harness.Piyasa(t, "deploy", "history", "--env", "dev", "-n", ns).RunOK()
		if !strings.Contains(r.Stdout, "deploy update --image "+v2) || !strings.Contains(r.Stdout, "same image as api") {
			t.Fatalf("history:\n%s", r.Stdout)
		}
		harness.Piyasa(t, "deploy", "rollback", "--env", "dev", "-n", ns).RunOK()
		st = status(t, ns)
		if st.image(app.API) != v1 || st.image(app.Worker) != v1 || !st.Ready {
			t.Fatalf("after rollback: %+v", st)
		}
		harness.Piyasa(t, "deploy", "rollback", "--to-revision", "999", "--env", "dev", "-n", ns).ExpectCode(2)
	})

	t.Run("failed update rolls back", func(t *testing.T) {
		crashingImage(t)
		logsFor(t, ns, app.API)
		r := harness.Piyasa(t, "deploy", "update", "--image", crashTag, "--env", "dev", "-n", ns, "--timeout", "2m").ExpectCode(1)
		for _, want := range []string{"CrashLoopBackOff", "OOMKilled", "BackOff", "Rolling back", "rolled back"} {
			if !strings.Contains(r.Stdout+r.Stderr, want) {
				t.Errorf("output lacks %q:\nstdout:\n%s\nstderr:\n%s", want, r.Stdout, r.Stderr)
			}
		}
		st := status(t, ns)
		if st.image(app.API) != v1 || st.image(app.Worker) != v1 || !st.Ready {
			t.Fatalf("after failed update: %+v", st)
		}
	})

	t.Run("failed update kept, then rollback", func(t *testing.T) {
		crashingImage(t)
		crash := app.APIImage + ":" + crashTag
		harness.Piyasa(t, "deploy", "update", "--image", crashTag, "--no-rollback", "--env", "dev", "-n", ns, "--timeout", "2m").ExpectCode(1)
		if st := status(t, ns); st.image(app.API) != crash || st.image(app.Worker) != crash || st.Ready {
			t.Fatalf("after failed update without rollback: %+v", st)
		}
		harness.Piyasa(t, "deploy", "rollback", "--env", "dev", "-n", ns, "--timeout", "2m").RunOK()
		if st := status(t, ns); st.image(app.API) != v1 || st.image(app.Worker) != v1 || !st.Ready {
			t.Fatalf("after rollback: %+v", st)
		}
	})

	t.Run("secret rotate", func(t *testing.T) {
		next := newEnvFile(t, ".env.next")
		r := harness.Piyasa(t, "deploy", "secret", "rotate", "--env-file", next, "--env", "dev", "-n", ns).RunOK()
		noLeak(t, r, env, next)
		if !strings.Contains(r.Stdout, "deployment/dev-api restarted") || !strings.Contains(r.Stdout, "statefulset/dev-worker restarted") {
			t.Fatalf("rotate output:\n%s", r.Stdout)
		}
		s, err := cs.CoreV1().Secrets(ns).Get(ctx, app.SecretName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		f, err := envfile.ReadFile(next)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range f.Data() {
			if string(s.Data[k]) != string(v) {
				t.Errorf("Secret key %s does not hold the new value", k)
			}
		}
		bad := writeFile(t, t.TempDir(), "bad.env", "API_KEY="+harness.CanaryValue("x")+"\nAPI_KEY="+harness.CanaryValue("y")+"\n")
		harness.Piyasa(t, "deploy", "secret", "rotate", "--env-file", bad, "--env", "dev", "-n", ns).ExpectCode(2)
	})

	t.Run("redeploy keeps the running image", func(t *testing.T) {
		v2 := app.APIImage + ":v2.0.0"
		harness.Piyasa(t, "deploy", "update", "--image", "v2.0.0", "--env", "dev", "-n", ns).RunOK()
		// Three workers, as `kubectl piyasa scale worker 3` leaves them.
		harness.Kubectl(t, "-n", ns, "patch", "configmap", "dev-piyasa-config", "--type", "merge", "-p", `{"data":{"TOTAL_WORKERS":"3"}}`).RunOK()
		harness.Kubectl(t, "-n", ns, "scale", "statefulset", "dev-worker", "--replicas", "3").RunOK()
		// The backup schedule set by hand survives the redeploy, as a suspend does.
		harness.Piyasa(t, "backup", "schedule", "set", "--cron", "0 * * * *", "--keep-daily", "5", "--env", "dev", "-n", ns).RunOK()
		// (config set's changes show in the diff: a deploy restores the overlay's values.)
		if d := harness.Piyasa(t, "deploy", "diff", "--env", "dev", "-n", ns).Run(); strings.Contains(d.Stdout, "image:") || d.Code > 1 {
			t.Fatalf("diff after update wants to change images:\n%s", d.Stdout)
		}
		r := harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env).RunOK()
		if !strings.Contains(r.Stderr, "keeping the running api/worker image "+v2) {
			t.Errorf("no note about the kept image:\n%s", r.Stderr)
		}
		// config set and secret rotate changed both; their readers restart.
		if !strings.Contains(r.Stdout, "statefulset/dev-worker restarted (piyasa-config, piyasa-secrets changed)") || strings.Contains(r.Stdout, "dev-postgres restarted") {
			t.Errorf("readers not restarted, or postgres restarted:\n%s", r.Stdout)
		}
		harness.Piyasa(t, "deploy", "diff", "--env", "dev", "-n", ns, "--env-file", env).ExpectCode(0)
		if st := status(t, ns); st.image(app.API) != v2 || st.image(app.Worker) != v2 || !st.Ready {
			t.Fatalf("after redeploy: %+v", st)
		}
		if !strings.Contains(r.Stderr, "keeping the running 3 workers and TOTAL_WORKERS=3") {
			t.Errorf("no note about the kept worker count:\n%s", r.Stderr)
		}
		if !strings.Contains(r.Stderr, "keeping the backup schedule 0 * * * *, KEEP_DAILY=5 set with backup schedule set") {
			t.Errorf("no note about the kept backup schedule:\n%s", r.Stderr)
		}
		bcj, err := cs.BatchV1().CronJobs(ns).Get(ctx, "dev-db-backup", metav1.GetOptions{})
		if err != nil || bcj.Spec.Schedule != "0 * * * *" || !strings.Contains(fmt.Sprint(bcj.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Env), "{KEEP_DAILY 5 nil}") {
			t.Errorf("the redeploy reverted the backup schedule: %v %+v", err, bcj)
		}
		w, _ := cs.AppsV1().StatefulSets(ns).Get(ctx, "dev-worker", metav1.GetOptions{})
		cm, _ := cs.CoreV1().ConfigMaps(ns).Get(ctx, "dev-piyasa-config", metav1.GetOptions{})
		if *w.Spec.Replicas != 3 || cm.Data["TOTAL_WORKERS"] != "3" {
			t.Fatalf("worker replicas %d, TOTAL_WORKERS %s, want 3 and 3", *w.Spec.Replicas, cm.Data["TOTAL_WORKERS"])
		}
		harness.Piyasa(t, "deploy", "diff", "--env", "dev", "-n", ns, "--image", "v1.0.0").ExpectCode(1)
	})

	t.Run("delete keeps data", func(t *testing.T) {
		harness.Piyasa(t, "deploy", "delete", "--env", "dev", "-n", ns).WithStdin(strings.NewReader("wrong\n")).ExpectCode(2)
		if _, err := cs.AppsV1().Deployments(ns).Get(ctx, "dev-api", metav1.GetOptions{}); err != nil {
			t.Fatalf("deleted without confirmation: %v", err)
		}
		harness.Piyasa(t, "deploy", "delete", "--env", "dev", "-n", ns).WithStdin(strings.NewReader(ns + "\n")).RunOK()
		if _, err := cs.AppsV1().Deployments(ns).Get(ctx, "dev-api", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("api still there: %v", err)
		}
		if _, err := cs.CoreV1().Secrets(ns).Get(ctx, app.SecretName, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("secret still there: %v", err)
		}
		if _, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "dev-postgres-pvc", metav1.GetOptions{}); err != nil {
			t.Fatalf("postgres PVC gone: %v", err)
		}
	})
}
