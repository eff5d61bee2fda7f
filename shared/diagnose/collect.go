package diagnose

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/redact"
)

// listFunc sends one LIST page of a kind.
type listFunc func(ctx context.Context, c *Clients, ns string, o metav1.ListOptions) (runtime.Object, error)

// source is one kind diagnose reads. A listed kind gives list (one paged
// LIST), optional opts (a field selector) and keep, which records one item;
// any other read gives read. The one locking rule: keep and read write to
// the Snapshot only through the collector, which holds the Snapshot's lock
// around every keep call and hands read a locked setter.
type source struct {
	kind Kind
	list listFunc
	opts func(*metav1.ListOptions)
	keep func(s *Snapshot, item runtime.Object)
	read func(ctx context.Context, c *Clients, ns string, chunk int64, locked func(func(*Snapshot))) error
}

// item adapts a typed keep function to the items meta.EachListItem gives.
func item[T any](keep func(s *Snapshot, o *T)) func(*Snapshot, runtime.Object) {
	return func(s *Snapshot, o runtime.Object) {
		if t, ok := any(o).(*T); ok {
			keep(s, t)
		}
	}
}

var (
	gvrAPIServices  = schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
	gvrCertificates = schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}
)

// sources is what Collect reads: each kind once, concurrently.
var sources = []source{
	{kind: KindPods,
		list: func(ctx context.Context, c *Clients, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return c.Kube.CoreV1().Pods(ns).List(ctx, o)
		},
		keep: item(func(s *Snapshot, p *corev1.Pod) { s.Pods = append(s.Pods, summarizePod(p, s.Now)) })},
	{kind: KindDeployments,
		list: func(ctx context.Context, c *Clients, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return c.Kube.AppsV1().Deployments(ns).List(ctx, o)
		},
		keep: item(func(s *Snapshot, d *appsv1.Deployment) {
			d.ManagedFields = nil
			s.Deployments = append(s.Deployments, *d)
		})},
	{kind: KindStatefulSets,
		list: func(ctx context.Context, c *Clients, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return c.Kube.AppsV1().StatefulSets(ns).List(ctx, o)
		},
		keep: item(func(s *Snapshot, st *appsv1.StatefulSet) {
			st.ManagedFields = nil
			s.StatefulSets = append(s.StatefulSets, *st)
		})},
	{kind: KindCronJobs,
		list: func(ctx context.Context, c *Clients, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return c.Kube.BatchV1().CronJobs(ns).List(ctx, o)
		},
		keep: item(func(s *Snapshot, cj *batchv1.CronJob) { cj.ManagedFields = nil; s.CronJobs = append(s.CronJobs, *cj) })},
	{kind: KindJobs,
		list: func(ctx context.Context, c *Clients, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return c.Kube.BatchV1().Jobs(ns).List(ctx, o)
		},
		// running hand-made Jobs (migrations); a CronJob's Jobs are checked through the CronJob
		keep: item(func(s *Snapshot, j *batchv1.Job) {
			if j.Status.CompletionTime == nil && len(j.OwnerReferences) == 0 {
				j.ManagedFields = nil
				s.Jobs = append(s.Jobs, *j)
			}
		})},
	{kind: KindServices,
		list: func(ctx context.Context, c *Clients, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return c.Kube.CoreV1().Services(ns).List(ctx, o)
		},
		keep: item(func(s *Snapshot, svc *corev1.Service) { cp := *svc; s.Services[svc.Name] = &cp })},
	{kind: KindEndpointSlices,
		list: func(ctx context.Context, c *Clients, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return c.Kube.DiscoveryV1().EndpointSlices(ns).List(ctx, o)
		},
		keep: item(func(s *Snapshot, es *discoveryv1.EndpointSlice) {
			svc := es.Labels[discoveryv1.LabelServiceName]
			if svc == "" {
				return
			}
			for _, ep := range es.Endpoints {
				if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
					s.ReadyEndpoints[svc]++
				}
			}
		})},
	{kind: KindConfigMaps,
		list: func(ctx context.Context, c *Clients, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return c.Kube.CoreV1().ConfigMaps(ns).List(ctx, o)
		},
		keep: item(func(s *Snapshot, cm *corev1.ConfigMap) {
			data := cm.Data
			if data == nil {
				data = map[string]string{}
			}
			for k := range cm.BinaryData {
				data[k] = ""
			}
			s.ConfigMaps[cm.Name] = data
		})},
	{kind: KindSecrets,
		list: func(ctx context.Context, c *Clients, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return c.Kube.CoreV1().Secrets(ns).List(ctx, o)
		},
		// key names and certificate dates only; the values are dropped with the page
		// key names and certificate dates; the values only to mask them (buildMask)
		keep: item(func(s *Snapshot, sec *corev1.Secret) {
			s.Secrets[sec.Name] = summarizeSecret(sec)
			s.secretValues[sec.Name] = redact.SecretData(sec.Data)
			clear(sec.Data)
		})},
	{kind: KindHPAs,
		list: func(ctx context.Context, c *Clients, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return c.Kube.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, o)
		},
		keep: item(func(s *Snapshot, h *autoscalingv2.HorizontalPodAutoscaler) {
			h.ManagedFields = nil
			s.HPAs = append(s.HPAs, *h)
		})},
	{kind: KindIngresses,
		list: func(ctx context.Context, c *Clients, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return c.Kube.NetworkingV1().Ingresses(ns).List(ctx, o)
		},
		keep: item(func(s *Snapshot, ing *networkingv1.Ingress) {
			ing.ManagedFields = nil
			s.Ingresses = append(s.Ingresses, *ing)
		})},
	{kind: KindIngressClasses,
		list: func(ctx context.Context, c *Clients, _ string, o metav1.ListOptions) (runtime.Object, error) {
			return c.Kube.NetworkingV1().IngressClasses().List(ctx, o)
		},
		keep: item(func(s *Snapshot, ic *networkingv1.IngressClass) { s.IngressClasses = append(s.IngressClasses, *ic) })},
	{kind: KindPVCs,
		list: func(ctx context.Context, c *Clients, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return c.Kube.CoreV1().PersistentVolumeClaims(ns).List(ctx, o)
		},
		keep: item(func(s *Snapshot, pvc *corev1.PersistentVolumeClaim) {
			pvc.ManagedFields = nil
			s.PVCs = append(s.PVCs, *pvc)
		})},
	{kind: KindStorageClasses,
		list: func(ctx context.Context, c *Clients, _ string, o metav1.ListOptions) (runtime.Object, error) {
			return c.Kube.StorageV1().StorageClasses().List(ctx, o)
		},
		keep: item(func(s *Snapshot, sc *storagev1.StorageClass) { s.StorageClasses[sc.Name] = *sc })},
	{kind: KindNetworkPolicies,
		list: func(ctx context.Context, c *Clients, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return c.Kube.NetworkingV1().NetworkPolicies(ns).List(ctx, o)
		},
		keep: item(func(s *Snapshot, np *networkingv1.NetworkPolicy) { s.NetworkPolicies = append(s.NetworkPolicies, *np) })},
	{kind: KindPDBs,
		list: func(ctx context.Context, c *Clients, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return c.Kube.PolicyV1().PodDisruptionBudgets(ns).List(ctx, o)
		},
		keep: item(func(s *Snapshot, pdb *policyv1.PodDisruptionBudget) { s.PDBs = append(s.PDBs, *pdb) })},
	{kind: KindServiceAccounts,
		list: func(ctx context.Context, c *Clients, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return c.Kube.CoreV1().ServiceAccounts(ns).List(ctx, o)
		},
		keep: item(func(s *Snapshot, sa *corev1.ServiceAccount) {
			s.ServiceAccounts[sa.Name] = sa.AutomountServiceAccountToken
		})},
	{kind: KindEvents,
		list: func(ctx context.Context, c *Clients, ns string, o metav1.ListOptions) (runtime.Object, error) {
			return c.Kube.CoreV1().Events(ns).List(ctx, o)
		},
		opts: func(o *metav1.ListOptions) { o.FieldSelector = "type=Warning" },
		keep: item(func(s *Snapshot, e *corev1.Event) { s.addEvent(e) })},
	{kind: KindNodes,
		list: func(ctx context.Context, c *Clients, _ string, o metav1.ListOptions) (runtime.Object, error) {
			return c.Kube.CoreV1().Nodes().List(ctx, o)
		},
		keep: item(func(s *Snapshot, n *corev1.Node) {
			sum := NodeSummary{Name: n.Name, CPUMilli: n.Status.Allocatable.Cpu().MilliValue(), MemoryB: n.Status.Allocatable.Memory().Value()}
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					sum.Ready = true
				}
			}
			s.Nodes = append(s.Nodes, sum)
		})},
	{kind: KindVersion, read: readVersion},
	{kind: KindAPIServices, read: readMetricsAPI},
	{kind: KindCertificates, read: readCertificates},
}

// Collect reads everything the checks need: one paged LIST per kind (or one
// GET), all kinds concurrently, pods summarized page by page. A forbidden
// kind is recorded in Snapshot.Errs; any other API error aborts (the cluster
// cannot be read).
func Collect(ctx context.Context, c *Clients, ns string, env app.Environment, now time.Time, chunk int64) (*Snapshot, error) {
	if chunk <= 0 {
		chunk = DefaultChunkSize
	}
	s := &Snapshot{Namespace: ns, Env: env, Now: now, Errs: map[Kind]error{},
		Services: map[string]*corev1.Service{}, ReadyEndpoints: map[string]int{}, ConfigMaps: map[string]map[string]string{},
		Secrets: map[string]SecretInfo{}, StorageClasses: map[string]storagev1.StorageClass{}, ServiceAccounts: map[string]*bool{},
		events: map[string]*EventGroup{}, secretValues: map[string][]string{}}
	var mu sync.Mutex
	locked := func(f func(*Snapshot)) {
		mu.Lock()
		defer mu.Unlock()
		f(s)
	}
	errs := make([]error, len(sources))
	var wg sync.WaitGroup
	for i, src := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if src.read != nil {
				errs[i] = src.read(ctx, c, ns, chunk, locked)
				return
			}
			o := metav1.ListOptions{Limit: chunk}
			if src.opts != nil {
				src.opts(&o)
			}
			errs[i] = listPaged(ctx, o, func(o metav1.ListOptions) (runtime.Object, error) { return src.list(ctx, c, ns, o) },
				func(items []runtime.Object) {
					locked(func(s *Snapshot) {
						for _, it := range items {
							src.keep(s, it)
						}
					})
				})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		switch {
		case err == nil:
		case apierrors.IsForbidden(err):
			s.Errs[sources[i].kind] = err
		case apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err):
			// the API is not served here: nothing of that kind
		default:
			return nil, err
		}
	}
	s.finishEvents()
	s.buildMask()
	return s, nil
}

// listPaged is the one paged LIST: it sends pages until the server gives no
// continue token and hands each page's items to keep.
func listPaged(ctx context.Context, o metav1.ListOptions, list func(metav1.ListOptions) (runtime.Object, error), keep func([]runtime.Object)) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		l, err := list(o)
		if err != nil {
			return err
		}
		var items []runtime.Object
		if err := meta.EachListItem(l, func(o runtime.Object) error { items = append(items, o); return nil }); err != nil {
			return err
		}
		keep(items)
		lm, err := meta.ListAccessor(l)
		if err != nil {
			return err
		}
		if lm.GetContinue() == "" {
			return nil
		}
		o.Continue = lm.GetContinue()
	}
}

func readVersion(_ context.Context, c *Clients, _ string, _ int64, locked func(func(*Snapshot))) error {
	v, err := c.Kube.Discovery().ServerVersion()
	if err != nil {
		return err
	}
	locked(func(s *Snapshot) {
		s.ServerVersion = v.GitVersion
		fmt.Sscanf(strings.TrimRight(v.Minor, "+"), "%d", &s.ServerMinor)
		if v.Major != "1" {
			s.ServerMinor = 999
		}
	})
	return nil
}

func readMetricsAPI(ctx context.Context, c *Clients, _ string, _ int64, locked func(func(*Snapshot))) error {
	u, err := c.Dynamic.Resource(gvrAPIServices).Get(ctx, "v1beta1.metrics.k8s.io", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	m := MetricsAPI{Present: true}
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, ci := range conds {
		cm, _ := ci.(map[string]any)
		if cm["type"] == "Available" {
			m.Available = cm["status"] == "True"
			msg, _ := cm["message"].(string)
			reason, _ := cm["reason"].(string)
			m.Message = strings.TrimSpace(reason + ": " + msg)
		}
	}
	locked(func(s *Snapshot) { s.Metrics = m })
	return nil
}

func readCertificates(ctx context.Context, c *Clients, ns string, chunk int64, locked func(func(*Snapshot))) error {
	if _, err := c.Kube.Discovery().ServerResourcesForGroupVersion("cert-manager.io/v1"); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	locked(func(s *Snapshot) { s.CertManager = true })
	return listPaged(ctx, metav1.ListOptions{Limit: chunk}, func(o metav1.ListOptions) (runtime.Object, error) {
		return c.Dynamic.Resource(gvrCertificates).Namespace(ns).List(ctx, o)
	}, func(items []runtime.Object) {
		locked(func(s *Snapshot) {
			for _, it := range items {
				if u, ok := it.(*unstructured.Unstructured); ok {
					s.Certificates = append(s.Certificates, *u)
				}
			}
		})
	})
}

// addEvent adds a warning event of the last hour to its group (object and reason).
func (s *Snapshot) addEvent(e *corev1.Event) {
	last := eventTime(e)
	if s.Now.Sub(last) > time.Hour {
		return
	}
	key := e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name + "/" + e.Reason
	g := s.events[key]
	if g == nil {
		g = &EventGroup{Kind: e.InvolvedObject.Kind, Name: e.InvolvedObject.Name, Reason: e.Reason}
		s.events[key] = g
	}
	cnt := e.Count
	if e.Series != nil && e.Series.Count > cnt {
		cnt = e.Series.Count
	}
	if cnt == 0 {
		cnt = 1
	}
	g.Count += cnt
	if !last.Before(g.Last) {
		g.Last, g.Message, g.UID = last, e.Message, string(e.InvolvedObject.UID)
	}
}

// finishEvents turns the event groups into Snapshot.Events, in a stable order.
func (s *Snapshot) finishEvents() {
	for _, g := range s.events {
		s.Events = append(s.Events, *g)
	}
	s.events = nil
	sort.Slice(s.Events, func(i, j int) bool {
		a, b := s.Events[i], s.Events[j]
		return a.Kind+"/"+a.Name+"/"+a.Reason < b.Kind+"/"+b.Name+"/"+b.Reason
	})
}

// eventTime is diagnose's one rule for when an event last happened (shared
// with the bundle's events.txt): see bundle.EventTime.
func eventTime(e *corev1.Event) time.Time { return kube.EventTime(*e).Time }
