package diagnose

import (
	"net/http"
	"sort"
	"strings"
	"sync"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// RequestStats counts the HTTP requests a diagnose run sends to the API
// server, by verb and resource. A paged LIST (limit/continue) counts as one
// LIST and as many pages as requests. It is filled by the RoundTripper
// returned by Wrap, so the figures are what really went over the wire.
type RequestStats struct {
	mu    sync.Mutex
	total int
	lists map[string]int
	pages map[string]int
	other map[string]int
}

// NewRequestStats returns empty counters.
func NewRequestStats() *RequestStats {
	return &RequestStats{lists: map[string]int{}, pages: map[string]int{}, other: map[string]int{}}
}

// Wrap returns a RoundTripper that counts every request before passing it on.
// Use it as rest.Config.WrapTransport.
func (s *RequestStats) Wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		s.record(req)
		return rt.RoundTrip(req)
	})
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (s *RequestStats) record(req *http.Request) {
	verb, resource := ClassifyRequest(req.Method, req.URL.Path, req.URL.Query().Has("watch"))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.total++
	switch verb {
	case "list":
		s.pages[resource]++
		if req.URL.Query().Get("continue") == "" {
			s.lists[resource]++
		}
	default:
		s.other[verb+" "+resource]++
	}
}

// ClassifyRequest names the verb (list, get, watch, create, proxy, exec, ...)
// and resource (pods, deployments.apps) of an API request path.
func ClassifyRequest(method, path string, watch bool) (verb, resource string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	var group string
	var rest []string
	switch {
	case len(segs) >= 2 && segs[0] == "api":
		rest = segs[2:]
	case len(segs) >= 3 && segs[0] == "apis":
		group = segs[1]
		rest = segs[3:]
	default:
		return strings.ToLower(method), path
	}
	if len(rest) >= 3 && rest[0] == "namespaces" {
		rest = rest[2:]
	} else if len(rest) == 2 && rest[0] == "namespaces" {
		rest = []string{"namespaces", rest[1]}
	}
	if len(rest) == 0 {
		return strings.ToLower(method), path
	}
	resource = rest[0]
	if group != "" {
		resource += "." + group
	}
	switch {
	case len(rest) >= 3:
		verb = rest[2] // subresource: exec, proxy, log, status
		if method != http.MethodGet && verb != "exec" {
			verb = strings.ToLower(method) + " " + verb
		}
	case method == http.MethodGet && watch:
		verb = "watch"
	case method == http.MethodGet && len(rest) == 1:
		verb = "list"
	case method == http.MethodGet:
		verb = "get"
	default:
		verb = strings.ToLower(method)
	}
	return verb, resource
}

// RequestCounts is the JSON form of RequestStats.
type RequestCounts struct {
	// Total is the number of HTTP requests.
	Total int `json:"total"`
	// Lists counts LIST calls per resource (a paged LIST counts once).
	Lists map[string]int `json:"lists"`
	// Pages counts the HTTP requests of those LISTs per resource.
	Pages map[string]int `json:"pages"`
	// Other counts the remaining requests by "verb resource".
	Other map[string]int `json:"other,omitempty"`
}

// Snapshot returns a copy of the counters.
func (s *RequestStats) Snapshot() RequestCounts {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := func(m map[string]int) map[string]int {
		out := make(map[string]int, len(m))
		for k, v := range m {
			out[k] = v
		}
		return out
	}
	return RequestCounts{Total: s.total, Lists: cp(s.lists), Pages: cp(s.pages), Other: cp(s.other)}
}

// MaxListsPerResource returns the highest LIST count of any resource and its name.
func (c RequestCounts) MaxListsPerResource() (string, int) {
	keys := make([]string, 0, len(c.Lists))
	for k := range c.Lists {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	best, n := "", 0
	for _, k := range keys {
		if c.Lists[k] > n {
			best, n = k, c.Lists[k]
		}
	}
	return best, n
}

// Clients are the clients of one diagnose run: protobuf for built-in kinds,
// JSON for CRDs and aggregated APIs, every request counted in Stats.
type Clients struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	// Config is the counted JSON config (exec and pod proxy use it); nil on a test's fake clients.
	Config *rest.Config
	Stats  *RequestStats
}

// NewClients makes the counted clients of a run from the user's config. The
// config's QPS and Burst are the suite's (cli.NewGlobal sets them once).
func NewClients(base *rest.Config) (*Clients, error) {
	stats := NewRequestStats()
	js := rest.CopyConfig(base)
	js.Wrap(stats.Wrap)
	pb := rest.CopyConfig(js)
	pb.ContentType = ProtobufContentType
	pb.AcceptContentTypes = ProtobufContentType + ",application/json"
	kc, err := kubernetes.NewForConfig(pb)
	if err != nil {
		return nil, err
	}
	dc, err := dynamic.NewForConfig(js)
	if err != nil {
		return nil, err
	}
	return &Clients{Kube: kc, Dynamic: dc, Config: js, Stats: stats}, nil
}

// clientsFor returns the clients of a run: the Global's own when a test set
// them (fake clientsets, no transport to count), else counted protobuf
// clients built from the Global's REST config. A kubeconfig or context error
// is returned as it is, before any request, so that it classifies as one.
func clientsFor(g *cli.Global) (*Clients, error) {
	if g.KubeClient != nil {
		dyn, err := g.Dynamic()
		if err != nil {
			return nil, err
		}
		return &Clients{Kube: g.KubeClient, Dynamic: dyn, Stats: NewRequestStats()}, nil
	}
	cfg, err := g.RESTConfig()
	if err != nil {
		return nil, err
	}
	return NewClients(cfg)
}
