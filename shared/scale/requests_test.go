package scale

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// TestStatusRequests checks that `scale status` reads each kind with one
// request: five LISTs, one GET of the ConfigMap and one LIST of pod metrics.
func TestStatusRequests(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	lists := map[string]string{
		"/apis/apps/v1/namespaces/ns/deployments":                     `{"kind":"DeploymentList","apiVersion":"apps/v1","items":[]}`,
		"/apis/apps/v1/namespaces/ns/statefulsets":                    `{"kind":"StatefulSetList","apiVersion":"apps/v1","items":[]}`,
		"/apis/autoscaling/v2/namespaces/ns/horizontalpodautoscalers": `{"kind":"HorizontalPodAutoscalerList","apiVersion":"autoscaling/v2","items":[]}`,
		"/api/v1/namespaces/ns/pods":                                  `{"kind":"PodList","apiVersion":"v1","items":[]}`,
		"/api/v1/namespaces/ns/events":                                `{"kind":"EventList","apiVersion":"v1","items":[]}`,
		"/api/v1/namespaces/ns/configmaps/dev-piyasa-config":          `{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"dev-piyasa-config"},"data":{"TOTAL_WORKERS":"2"}}`,
		"/apis/metrics.k8s.io/v1beta1/namespaces/ns/pods":             `{"kind":"PodMetricsList","apiVersion":"metrics.k8s.io/v1beta1","items":[]}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path)
		mu.Unlock()
		body, ok := lists[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	defer srv.Close()

	var out, errOut bytes.Buffer
	g := cli.NewGlobal(genericiooptions.IOStreams{Out: &out, ErrOut: &errOut})
	server, ns, env := srv.URL, "ns", "dev"
	g.ConfigFlags.APIServer = &server
	g.ConfigFlags.Namespace = &ns
	g.EnvName = env
	o := NewStatusOptions(g)
	o.Print.Output = "json"
	if err := o.Complete(nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	err := o.Run(context.Background())
	// Nothing is deployed: status reports problems (exit 1) but prints its document.
	if e, ok := err.(*cli.Error); !ok || e.Code != cli.ExitFailed {
		t.Fatalf("Run: %v", err)
	}
	sort.Strings(seen)
	if len(seen) != len(lists) {
		t.Errorf("%d requests, want %d:\n%s", len(seen), len(lists), strings.Join(seen, "\n"))
	}
	for _, s := range seen {
		if !strings.HasPrefix(s, "GET ") || lists[strings.TrimPrefix(s, "GET ")] == "" {
			t.Errorf("unexpected request %s", s)
		}
	}
	if !strings.Contains(out.String(), `"kind": "ScaleStatus"`) || !strings.Contains(out.String(), `"totalWorkers": 2`) {
		t.Errorf("document:\n%s", out.String())
	}
}
