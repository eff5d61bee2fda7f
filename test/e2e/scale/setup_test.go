package scale_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

var dev = app.Environments["dev"]

// Usage fed to metrics-server through kwok's usage emulation.
const (
	apiCPU    = "100m" // of the dev api's 250m request: 40%
	apiMemory = "128Mi"
)

// usagePatch sets kwok's usage annotations on a pod template (a strategic
// merge patch): metrics-server then reports that usage for its pods.
const usagePatch = `{"spec":{"template":{"metadata":{"annotations":{"kwok.x-k8s.io/usage-cpu":"` + apiCPU + `","kwok.x-k8s.io/usage-memory":"` + apiMemory + `"}}}}}`

// deployDev deploys the dev overlay into a fresh namespace with
// `kubectl piyasa deploy --env dev`, applies the given strategic merge patches
// ("deployment/dev-api" -> patch), and waits until api, worker and frontend
// are ready. It returns the namespace.
func deployDev(t *testing.T, patches map[string]string) string {
	t.Helper()
	ns := harness.Namespace(t, "scale")
	envFile := harness.InitEnv(t, filepath.Join(t.TempDir(), "dev.env"))
	// --wait=false: this package waits for the three scalable components only
	// (postgres' volume binding is not its concern).
	harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", envFile, "--wait=false").RunOK()
	for obj, p := range patches {
		harness.Kubectl(t, "patch", obj, "-n", ns, "--type", "strategic", "-p", p).RunOK()
	}
	waitReady(t, ns)
	return ns
}

func workloads() []kube.Workload {
	var ws []kube.Workload
	for _, n := range []string{app.API, app.Worker, app.Frontend} {
		c, _ := app.LookupComponent(n)
		ws = append(ws, kube.Workload{Component: n, Kind: c.Kind, Name: dev.WorkloadName(c)})
	}
	return ws
}

func waitReady(t *testing.T, ns string) {
	t.Helper()
	if _, err := kube.WaitForWorkloads(context.Background(), harness.Client(t), ns, workloads(), kube.WaitOptions{Timeout: 2 * time.Minute}); err != nil {
		t.Fatalf("dev overlay not ready in %s: %v", ns, err)
	}
}

// waitForPodMetrics waits (bounded) until metrics.k8s.io reports every pod
// whose name starts with prefix. Tests may wait for conditions; they assert
// no timings.
func waitForPodMetrics(t *testing.T, ns string, prefixes ...string) {
	t.Helper()
	mc, err := metricsclient.NewForConfig(harness.RESTConfig(t))
	if err != nil {
		t.Fatal(err)
	}
	cs := harness.Client(t)
	deadline := time.Now().Add(4 * time.Minute)
	for {
		pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		list, merr := mc.MetricsV1beta1().PodMetricses(ns).List(context.Background(), metav1.ListOptions{})
		have := map[string]bool{}
		if merr == nil {
			for _, m := range list.Items {
				have[m.Name] = true
			}
		}
		missing := 0
		for _, p := range pods.Items {
			for _, pre := range prefixes {
				if strings.HasPrefix(p.Name, pre) && p.DeletionTimestamp == nil && !have[p.Name] {
					missing++
				}
			}
		}
		if missing == 0 && merr == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics.k8s.io has no metrics for %d pod(s) of %v in %s (err=%v)", missing, prefixes, ns, merr)
		}
		time.Sleep(2 * time.Second)
	}
}

// statusDoc runs `scale status -o json` and decodes it.
func statusDoc(t *testing.T, ns string, code int) map[string]any {
	t.Helper()
	r := harness.Piyasa(t, "scale", "status", "--env", "dev", "-n", ns, "-o", "json").ExpectCode(code)
	var doc map[string]any
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, r.Stdout)
	}
	if doc["apiVersion"] != app.APIVersion || doc["kind"] != "ScaleStatus" {
		t.Fatalf("status document has apiVersion %v kind %v", doc["apiVersion"], doc["kind"])
	}
	return doc
}

// component returns the entry of a component (api, worker, frontend): its
// "component" field names it, "workload" names the object.
func component(t *testing.T, doc map[string]any, name string) map[string]any {
	t.Helper()
	for _, c := range doc["components"].([]any) {
		m := c.(map[string]any)
		if _, ok := m["name"]; ok {
			t.Errorf("status entry has the ambiguous name field: %v", m)
		}
		if m["component"] == name {
			return m
		}
	}
	t.Fatalf("no component %s in status", name)
	return nil
}

// assertWorkersRolledBack checks that a failed `scale worker` put back the
// dev overlay's 2 workers: TOTAL_WORKERS, the replicas and the pod template
// (no restart annotation), and that the workers are ready again.
func assertWorkersRolledBack(t *testing.T, ns string) {
	t.Helper()
	if tw := totalWorkers(t, ns); tw != "2" {
		t.Errorf("TOTAL_WORKERS=%s after the rollback, want 2", tw)
	}
	sts, err := harness.Client(t).AppsV1().StatefulSets(ns).Get(context.Background(), "dev-worker", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *sts.Spec.Replicas != 2 || sts.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] != "" {
		t.Errorf("statefulset not rolled back: %d replicas, template annotations %v", *sts.Spec.Replicas, sts.Spec.Template.Annotations)
	}
	waitReady(t, ns)
}
