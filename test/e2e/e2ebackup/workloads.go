package e2ebackup

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// workloads are the app's api, worker and postgres workloads (dev names).
func workloads() []kube.Workload {
	var ws []kube.Workload
	for _, n := range []string{app.API, app.Worker, app.Postgres} {
		c, _ := app.LookupComponent(n)
		ws = append(ws, kube.Workload{Component: n, Kind: c.Kind, Name: "dev-" + c.Workload})
	}
	return ws
}

// WaitApp waits until api and worker have exactly these replicas, ready.
func WaitApp(t *testing.T, ns string, api, worker int32) {
	t.Helper()
	sts, err := kube.WaitForWorkloads(context.Background(), harness.Client(t), ns, workloads(), kube.WaitOptions{Timeout: 2 * time.Minute, Settled: true})
	if err != nil {
		t.Fatalf("workloads in %s: %v", ns, err)
	}
	for _, s := range sts {
		want := map[string]int32{app.API: api, app.Worker: worker, app.Postgres: 1}[s.Component]
		if s.Desired != want || s.Ready != want {
			t.Fatalf("%s: %d/%d ready, want %d", s.Component, s.Ready, s.Desired, want)
		}
	}
}

// AppWorkloads reads the api Deployment and the worker StatefulSet of ns.
func AppWorkloads(t *testing.T, ns string) (*appsv1.Deployment, *appsv1.StatefulSet) {
	t.Helper()
	cs := harness.Client(t)
	d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), "dev-api", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := cs.AppsV1().StatefulSets(ns).Get(context.Background(), "dev-worker", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d, s
}

// Replicas returns the replicas the api and worker workloads of ns ask for.
func Replicas(t *testing.T, ns string) (api, worker int32) {
	t.Helper()
	d, s := AppWorkloads(t, ns)
	return *d.Spec.Replicas, *s.Spec.Replicas
}

// RestoreAnnotations returns the restore's annotations on api and worker.
func RestoreAnnotations(t *testing.T, ns string) (api, worker string) {
	t.Helper()
	d, s := AppWorkloads(t, ns)
	return d.Annotations[app.RestoreAnnotation], s.Annotations[app.RestoreAnnotation]
}

// LeaseExists tells whether the database lock's Lease of ns (dev names) exists.
func LeaseExists(t *testing.T, ns string) bool {
	t.Helper()
	_, err := harness.Client(t).CoordinationV1().Leases(ns).Get(context.Background(), "dev-piyasa-migrate", metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}
