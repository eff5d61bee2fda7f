package diagnose

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

// TestCollect: what Collect keeps of each kind, values of Secrets dropped, a
// forbidden kind recorded rather than failing the run.
func TestCollect(t *testing.T) {
	ns := "piyasa-chatbot-dev"
	cs := fake.NewClientset(
		&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "dev-api-1", Namespace: ns, Labels: map[string]string{"app": "piyasa-api", "component": "backend"}},
			Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "api", RestartCount: 7,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dev-piyasa-config", Namespace: ns}, Data: map[string]string{"TOTAL_WORKERS": "2"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "piyasa-secrets", Namespace: ns}, Data: map[string][]byte{"API_KEY": []byte("value-never-kept")}},
		&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: ns}, Type: "Warning", Reason: "BackOff", Count: 3, LastTimestamp: metav1.NewTime(now.Add(-time.Minute)),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "dev-api-1"}, Message: "Back-off restarting failed container"},
		&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e0", Namespace: ns}, Type: "Warning", Reason: "Old", LastTimestamp: metav1.NewTime(now.Add(-3 * time.Hour)),
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "dev-api-0"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}},
	)
	cs.PrependReactor("list", "networkpolicies", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "networking.k8s.io", Resource: "networkpolicies"}, "", nil)
	})
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(), map[schema.GroupVersionResource]string{
		{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}: "APIServiceList",
	})
	s, err := Collect(context.Background(), &Clients{Kube: cs, Dynamic: dyn, Stats: NewRequestStats()}, ns, app.Environments["dev"], now, 500)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Pods) != 1 || s.Pods[0].Component != app.API || len(s.Pods[0].Problems) != 1 || s.Pods[0].Restarts != 7 {
		t.Errorf("pods: %+v", s.Pods)
	}
	if !s.Secrets["piyasa-secrets"].Keys["API_KEY"] || strings.Contains(strings.Join(slices.Sorted(maps.Keys(s.Secrets["piyasa-secrets"].Keys)), ""), "value") {
		t.Errorf("secrets: %+v", s.Secrets)
	}
	if len(s.Events) != 1 || s.Events[0].Reason != "BackOff" || s.Events[0].Count != 3 {
		t.Errorf("events (last hour, Warning): %+v", s.Events)
	}
	if _, ok := s.Errs[KindNetworkPolicies]; !ok || len(s.Errs) != 1 {
		t.Errorf("errs: %v", s.Errs)
	}
	if s.Metrics.Present || s.CertManager || len(s.Nodes) != 1 || !s.Nodes[0].Ready {
		t.Errorf("metrics %+v certmanager %v nodes %+v", s.Metrics, s.CertManager, s.Nodes)
	}
	rep := Analyze(context.Background(), s, Config{}, nil, nil)
	for _, c := range rep.Checks {
		if c.Code == "PIY901" && c.Status != StatusSkipped {
			t.Errorf("PIY901 with networkpolicies forbidden: %+v", c)
		}
	}
}

// TestCollectPagesAndListsOnce: Collect runs on the Global's fake clients
// (clitest), lists each kind once per run and follows continue tokens: a
// paged LIST keeps the items of every page.
func TestCollectPagesAndListsOnce(t *testing.T) {
	tt := clitest.New(testNS)
	pages := 0
	tt.Fake.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		pages++
		o := a.(k8stesting.ListActionImpl).ListOptions
		l := &corev1.PodList{}
		name := "p1"
		if o.Continue == "page2" {
			name = "p2"
		} else {
			l.Continue = "page2"
		}
		l.Items = []corev1.Pod{{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS}}}
		return true, l, nil
	})
	c, err := clientsFor(tt.Global)
	if err != nil {
		t.Fatal(err)
	}
	s, err := Collect(context.Background(), c, testNS, app.Environments["dev"], now, 1)
	if err != nil {
		t.Fatal(err)
	}
	if pages != 2 || len(s.Pods) != 2 || s.Pods[0].Name == s.Pods[1].Name {
		t.Errorf("%d pages, pods %+v", pages, s.Pods)
	}
	lists := map[string]int{}
	for _, a := range tt.Fake.Actions() {
		if a.GetVerb() == "list" && a.(k8stesting.ListActionImpl).ListOptions.Continue == "" {
			lists[a.GetResource().Resource]++
		}
	}
	for res, n := range lists {
		if n != 1 {
			t.Errorf("%s listed %d times", res, n)
		}
	}
	if len(lists) < 15 {
		t.Errorf("only %d kinds listed: %v", len(lists), lists)
	}
}
