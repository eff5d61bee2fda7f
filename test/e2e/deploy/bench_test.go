package deploy_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/kubectl/pkg/polymorphichelpers"

	"github.com/piyasa/kubectl-piyasa/shared/deploy"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// BenchmarkReadyToReported measures the delay between a workload becoming
// ready and deploy reporting it: per run, one Deployment is created while
// deploy's Waiter waits for it; an independent watch on the Deployment notes
// when the API server publishes the status in which the rollout is complete
// (kubectl rollout-status semantics), and the Waiter notes when it reports
// the workload ready. Run it 20 times:
//
//	go test ./test/e2e/deploy/ -run '^$' -bench ReadyToReported -benchtime 20x
//
// It reports the median and the maximum in milliseconds.
func BenchmarkReadyToReported(b *testing.B) {
	ns := harness.Namespace(b, "bench")
	cs := harness.Client(b)
	var delays []time.Duration
	i := 0
	for b.Loop() {
		i++
		delays = append(delays, readyToReported(b, cs, ns, fmt.Sprintf("bench-%d", i)))
	}
	sort.Slice(delays, func(i, j int) bool { return delays[i] < delays[j] })
	median := delays[len(delays)/2]
	if len(delays)%2 == 0 {
		median = (delays[len(delays)/2-1] + delays[len(delays)/2]) / 2
	}
	b.ReportMetric(float64(median.Microseconds())/1000, "ms-median")
	b.ReportMetric(float64(delays[len(delays)-1].Microseconds())/1000, "ms-max")
	b.Logf("%d runs: median %s, min %s, max %s", len(delays), median, delays[0], delays[len(delays)-1])
}

func readyToReported(b *testing.B, cs kubernetes.Interface, ns, name string) time.Duration {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var mu sync.Mutex
	var readyAt, reportedAt time.Time
	readyCh := make(chan struct{})

	// The reference: a plain watch on the one Deployment.
	viewer, _ := polymorphichelpers.StatusViewerFor(schema.GroupKind{Group: "apps", Kind: "Deployment"})
	lw := cache.NewListWatchFromClient(cs.AppsV1().RESTClient(), "deployments", ns, fields.OneTermEqualSelector("metadata.name", name))
	_, ctrl := cache.NewInformerWithOptions(cache.InformerOptions{
		ListerWatcher: lw, ObjectType: &appsv1.Deployment{},
		Handler: cache.ResourceEventHandlerFuncs{
			AddFunc:    func(o any) { noteReady(viewer, o, &mu, &readyAt, readyCh) },
			UpdateFunc: func(_, o any) { noteReady(viewer, o, &mu, &readyAt, readyCh) },
		},
	})
	stop := make(chan struct{})
	go ctrl.Run(stop)
	defer close(stop)
	if !cache.WaitForCacheSync(ctx.Done(), ctrl.HasSynced) {
		b.Fatal("reference watch did not sync")
	}

	w := &deploy.Waiter{CS: cs, NS: ns, Timeout: time.Minute, OnReady: func(kube.WorkloadStatus) {
		mu.Lock()
		reportedAt = time.Now()
		mu.Unlock()
	}}
	done := make(chan error, 1)
	go func() {
		_, err := w.Wait(ctx, []kube.Workload{{Component: "bench", Kind: "Deployment", Name: name}})
		done <- err
	}()
	one := int32(1)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"bench": name}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"bench": name}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "registry.example/bench:1",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1m")}}}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	_ = cs.AppsV1().Deployments(ns).Delete(context.Background(), name, metav1.DeleteOptions{})
	// The reference watch can trail the Waiter's by a moment.
	select {
	case <-readyCh:
	case <-time.After(10 * time.Second):
		b.Fatal("the reference watch never saw the rollout complete")
	}
	mu.Lock()
	defer mu.Unlock()
	// Both watches get the same event; when the reference's handler runs
	// last the delay counts as 0.
	return max(reportedAt.Sub(readyAt), 0)
}

func noteReady(viewer polymorphichelpers.StatusViewer, o any, mu *sync.Mutex, at *time.Time, ch chan struct{}) {
	now := time.Now()
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return
	}
	_, done, err := viewer.Status(&unstructured.Unstructured{Object: u}, 0)
	if err != nil || !done {
		return
	}
	mu.Lock()
	if at.IsZero() {
		*at = now
		close(ch)
	}
	mu.Unlock()
}
