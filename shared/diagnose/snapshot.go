package diagnose

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// Kind names a resource diagnose reads; a forbidden Kind skips the checks that need it.
type Kind string

// The kinds diagnose reads, each with one (paged) LIST or one GET per run.
const (
	KindPods            Kind = "pods"
	KindDeployments     Kind = "deployments"
	KindStatefulSets    Kind = "statefulsets"
	KindCronJobs        Kind = "cronjobs"
	KindJobs            Kind = "jobs"
	KindServices        Kind = "services"
	KindEndpointSlices  Kind = "endpointslices"
	KindConfigMaps      Kind = "configmaps"
	KindSecrets         Kind = "secrets"
	KindHPAs            Kind = "horizontalpodautoscalers"
	KindIngresses       Kind = "ingresses"
	KindIngressClasses  Kind = "ingressclasses"
	KindPVCs            Kind = "persistentvolumeclaims"
	KindStorageClasses  Kind = "storageclasses"
	KindNetworkPolicies Kind = "networkpolicies"
	KindPDBs            Kind = "poddisruptionbudgets"
	KindServiceAccounts Kind = "serviceaccounts"
	KindEvents          Kind = "events"
	KindNodes           Kind = "nodes"
	KindAPIServices     Kind = "apiservices"
	KindCertificates    Kind = "certificates"
	KindVersion         Kind = "version"
)

// ProtobufContentType is the wire encoding diagnose asks for on built-in kinds.
const ProtobufContentType = "application/vnd.kubernetes.protobuf"

// DefaultChunkSize is the LIST page size (--chunk-size), as kubectl get's.
const DefaultChunkSize = 500

// PodSummary keeps what the checks need of one pod; the pod itself is dropped
// while paging, so memory does not grow with the pods' full specs.
type PodSummary struct {
	Name      string
	Component string
	Phase     corev1.PodPhase
	Ready     bool
	// NotReadyFor is how long the Ready condition has been False (0 when ready).
	NotReadyFor time.Duration
	// ReadyFor is how long the Ready condition has been True (0 when not ready).
	ReadyFor time.Duration
	Problems []kube.PodProblem
	// MemoryLimits holds the memory limit of containers with a problem.
	MemoryLimits map[string]string
	// Restarts is the highest restart count of the pod's containers, in Container.
	Restarts         int32
	RestartContainer string
	// Owner is "Kind/name" of the controlling owner.
	Owner    string
	Deleting bool
	// Volumes maps the pod's PVC claim names to the mount path in the first container mounting them.
	Mounts map[string]string
	// Containers lists the names of the pod's app containers.
	Containers []string
}

// SecretInfo keeps the key names of a Secret and, for TLS secrets, the certificate's expiry. Values are dropped.
type SecretInfo struct {
	Type         corev1.SecretType
	Keys         map[string]bool
	CertNotAfter time.Time
	CertErr      string
}

// EventGroup is the warning events of one object and reason.
type EventGroup struct {
	Kind, Name, Reason, Message string
	Count                       int32
	Last                        time.Time
}

// NodeSummary is one node's readiness and allocatable resources.
type NodeSummary struct {
	Name              string
	Ready             bool
	CPUMilli, MemoryB int64
}

// MetricsAPI tells whether metrics.k8s.io is registered and Available.
type MetricsAPI struct {
	Present   bool
	Available bool
	Message   string
}

// Snapshot is what diagnose read from the cluster in one pass.
type Snapshot struct {
	Namespace string
	Env       app.Environment
	Now       time.Time

	// Errs holds the kinds that could not be read (forbidden), with the error.
	Errs map[Kind]error

	Pods            []PodSummary
	Deployments     []appsv1.Deployment
	StatefulSets    []appsv1.StatefulSet
	CronJobs        []batchv1.CronJob
	Jobs            []batchv1.Job
	Services        map[string]*corev1.Service
	ReadyEndpoints  map[string]int
	ConfigMaps      map[string]map[string]string
	Secrets         map[string]SecretInfo
	HPAs            []autoscalingv2.HorizontalPodAutoscaler
	Ingresses       []networkingv1.Ingress
	IngressClasses  []networkingv1.IngressClass
	PVCs            []corev1.PersistentVolumeClaim
	StorageClasses  map[string]storagev1.StorageClass
	NetworkPolicies []networkingv1.NetworkPolicy
	PDBs            []policyv1.PodDisruptionBudget
	ServiceAccounts map[string]*bool
	Events          []EventGroup
	Nodes           []NodeSummary
	ServerVersion   string
	ServerMinor     int
	Metrics         MetricsAPI
	CertManager     bool
	Certificates    []unstructured.Unstructured
}

// Forbidden returns the first forbidden kind among kinds.
func (s *Snapshot) Forbidden(kinds ...Kind) (Kind, bool) {
	for _, k := range kinds {
		if _, bad := s.Errs[k]; bad {
			return k, true
		}
	}
	return "", false
}

// Clients are the clients of one diagnose run: protobuf for built-in kinds,
// JSON for CRDs and aggregated APIs, every request counted in Stats.
type Clients struct {
	Kube    kubernetes.Interface
	Dynamic dynamic.Interface
	// Config is the counted JSON config (exec and pod proxy use it).
	Config *rest.Config
	Stats  *RequestStats
}

// NewClients makes the clients of a run from the user's config.
func NewClients(base *rest.Config) (*Clients, error) {
	stats := NewRequestStats()
	js := rest.CopyConfig(base)
	if js.QPS < 50 {
		js.QPS, js.Burst = 50, 100 // ~25 requests per run, sent concurrently: no client-side throttling
	}
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

// Collect reads everything the checks need: one paged LIST per kind, run
// concurrently, summarizing pods page by page. A forbidden kind is recorded
// in Snapshot.Errs; any other API error aborts (the cluster cannot be read).
func Collect(ctx context.Context, c *Clients, ns string, env app.Environment, now time.Time, chunk int64) (*Snapshot, error) {
	if chunk <= 0 {
		chunk = DefaultChunkSize
	}
	s := &Snapshot{Namespace: ns, Env: env, Now: now, Errs: map[Kind]error{},
		Services: map[string]*corev1.Service{}, ReadyEndpoints: map[string]int{}, ConfigMaps: map[string]map[string]string{},
		Secrets: map[string]SecretInfo{}, StorageClasses: map[string]storagev1.StorageClass{}, ServiceAccounts: map[string]*bool{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	var fatal error
	run := func(kind Kind, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := f()
			if err == nil {
				return
			}
			mu.Lock()
			defer mu.Unlock()
			switch {
			case apierrors.IsForbidden(err):
				s.Errs[kind] = err
			case apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err):
				// the API is not served here: nothing of that kind
			default:
				if fatal == nil {
					fatal = err
				}
			}
		}()
	}
	kc := c.Kube
	lo := func() metav1.ListOptions { return metav1.ListOptions{Limit: chunk} }

	run(KindPods, func() error {
		return paged(ctx, lo(), func(o metav1.ListOptions) (string, error) {
			l, err := kc.CoreV1().Pods(ns).List(ctx, o)
			if err != nil {
				return "", err
			}
			sums := make([]PodSummary, 0, len(l.Items))
			for i := range l.Items {
				sums = append(sums, summarizePod(&l.Items[i], now))
			}
			mu.Lock()
			s.Pods = append(s.Pods, sums...)
			mu.Unlock()
			return l.Continue, nil
		})
	})
	run(KindDeployments, func() error {
		return paged(ctx, lo(), func(o metav1.ListOptions) (string, error) {
			l, err := kc.AppsV1().Deployments(ns).List(ctx, o)
			if err != nil {
				return "", err
			}
			s.Deployments = append(s.Deployments, l.Items...)
			return l.Continue, nil
		})
	})
	run(KindStatefulSets, func() error {
		return paged(ctx, lo(), func(o metav1.ListOptions) (string, error) {
			l, err := kc.AppsV1().StatefulSets(ns).List(ctx, o)
			if err != nil {
				return "", err
			}
			s.StatefulSets = append(s.StatefulSets, l.Items...)
			return l.Continue, nil
		})
	})
	run(KindCronJobs, func() error {
		return paged(ctx, lo(), func(o metav1.ListOptions) (string, error) {
			l, err := kc.BatchV1().CronJobs(ns).List(ctx, o)
			if err != nil {
				return "", err
			}
			s.CronJobs = append(s.CronJobs, l.Items...)
			return l.Continue, nil
		})
	})
	run(KindJobs, func() error {
		return paged(ctx, lo(), func(o metav1.ListOptions) (string, error) {
			l, err := kc.BatchV1().Jobs(ns).List(ctx, o)
			if err != nil {
				return "", err
			}
			for _, j := range l.Items {
				if j.Status.CompletionTime == nil && len(j.OwnerReferences) == 0 { // running hand-made Jobs (migrations); CronJob Jobs are checked through the CronJob
					j.ManagedFields = nil
					s.Jobs = append(s.Jobs, j)
				}
			}
			return l.Continue, nil
		})
	})
	run(KindServices, func() error {
		return paged(ctx, lo(), func(o metav1.ListOptions) (string, error) {
			l, err := kc.CoreV1().Services(ns).List(ctx, o)
			if err != nil {
				return "", err
			}
			mu.Lock()
			for i := range l.Items {
				s.Services[l.Items[i].Name] = &l.Items[i]
			}
			mu.Unlock()
			return l.Continue, nil
		})
	})
	run(KindEndpointSlices, func() error {
		return paged(ctx, lo(), func(o metav1.ListOptions) (string, error) {
			l, err := kc.DiscoveryV1().EndpointSlices(ns).List(ctx, o)
			if err != nil {
				return "", err
			}
			mu.Lock()
			for _, es := range l.Items {
				svc := es.Labels["kubernetes.io/service-name"]
				if svc == "" {
					continue
				}
				n := 0
				for _, ep := range es.Endpoints {
					if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
						n++
					}
				}
				s.ReadyEndpoints[svc] += n
			}
			mu.Unlock()
			return l.Continue, nil
		})
	})
	run(KindConfigMaps, func() error {
		return paged(ctx, lo(), func(o metav1.ListOptions) (string, error) {
			l, err := kc.CoreV1().ConfigMaps(ns).List(ctx, o)
			if err != nil {
				return "", err
			}
			mu.Lock()
			for _, cm := range l.Items {
				data := cm.Data
				if data == nil {
					data = map[string]string{}
				}
				for k := range cm.BinaryData {
					data[k] = ""
				}
				s.ConfigMaps[cm.Name] = data
			}
			mu.Unlock()
			return l.Continue, nil
		})
	})
	run(KindSecrets, func() error {
		return paged(ctx, lo(), func(o metav1.ListOptions) (string, error) {
			l, err := kc.CoreV1().Secrets(ns).List(ctx, o)
			if err != nil {
				return "", err
			}
			mu.Lock()
			for i := range l.Items {
				s.Secrets[l.Items[i].Name] = summarizeSecret(&l.Items[i])
			}
			mu.Unlock()
			clear(l.Items) // drop the values at once
			return l.Continue, nil
		})
	})
	run(KindHPAs, func() error {
		return paged(ctx, lo(), func(o metav1.ListOptions) (string, error) {
			l, err := kc.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, o)
			if err != nil {
				return "", err
			}
			s.HPAs = append(s.HPAs, l.Items...)
			return l.Continue, nil
		})
	})
	run(KindIngresses, func() error {
		return paged(ctx, lo(), func(o metav1.ListOptions) (string, error) {
			l, err := kc.NetworkingV1().Ingresses(ns).List(ctx, o)
			if err != nil {
				return "", err
			}
			s.Ingresses = append(s.Ingresses, l.Items...)
			return l.Continue, nil
		})
	})
	run(KindIngressClasses, func() error {
		return paged(ctx, lo(), func(o metav1.ListOptions) (string, error) {
			l, err := kc.NetworkingV1().IngressClasses().List(ctx, o)
			if err != nil {
				return "", err
			}
			s.IngressClasses = append(s.IngressClasses, l.Items...)
			return l.Continue, nil
		})
	})
	run(KindPVCs, func() error {
		return paged(ctx, lo(), func(o metav1.ListOptions) (string, error) {
			l, err := kc.CoreV1().PersistentVolumeClaims(ns).List(ctx, o)
			if err != nil {
				return "", err
			}
			s.PVCs = append(s.PVCs, l.Items...)
			return l.Continue, nil
		})
	})
	run(KindStorageClasses, func() error {
		return paged(ctx, lo(), func(o metav1.ListOptions) (string, error) {
			l, err := kc.StorageV1().StorageClasses().List(ctx, o)
			if err != nil {
				return "", err
			}
			mu.Lock()
			for _, sc := range l.Items {
				s.StorageClasses[sc.Name] = sc
			}
			mu.Unlock()
			return l.Continue, nil
		})
	})
	run(KindNetworkPolicies, func() error {
		return paged(ctx, lo(), func(o metav1.ListOptions) (string, error) {
			l, err := kc.NetworkingV1().NetworkPolicies(ns).List(ctx, o)
			if err != nil {
				return "", err
			}
			s.NetworkPolicies = append(s.NetworkPolicies, l.Items...)
			return l.Continue, nil
		})
	})
	run(KindPDBs, func() error {
		return paged(ctx, lo(), func(o metav1.ListOptions) (string, error) {
			l, err := kc.PolicyV1().PodDisruptionBudgets(ns).List(ctx, o)
			if err != nil {
				return "", err
			}
			s.PDBs = append(s.PDBs, l.Items...)
			return l.Continue, nil
		})
	})
	run(KindServiceAccounts, func() error {
		return paged(ctx, lo(), func(o metav1.ListOptions) (string, error) {
			l, err := kc.CoreV1().ServiceAccounts(ns).List(ctx, o)
			if err != nil {
				return "", err
			}
			mu.Lock()
			for _, sa := range l.Items {
				s.ServiceAccounts[sa.Name] = sa.AutomountServiceAccountToken
			}
			mu.Unlock()
			return l.Continue, nil
		})
	})
	run(KindEvents, func() error {
		groups := map[string]*EventGroup{}
		o := lo()
		o.FieldSelector = "type=Warning"
		err := paged(ctx, o, func(o metav1.ListOptions) (string, error) {
			l, err := kc.CoreV1().Events(ns).List(ctx, o)
			if err != nil {
				return "", err
			}
			for _, e := range l.Items {
				last := eventTime(&e)
				if now.Sub(last) > time.Hour {
					continue
				}
				key := e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name + "/" + e.Reason
				g := groups[key]
				if g == nil {
					g = &EventGroup{Kind: e.InvolvedObject.Kind, Name: e.InvolvedObject.Name, Reason: e.Reason}
					groups[key] = g
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
					g.Last, g.Message = last, e.Message
				}
			}
			return l.Continue, nil
		})
		mu.Lock()
		for _, g := range groups {
			s.Events = append(s.Events, *g)
		}
		mu.Unlock()
		return err
	})
	run(KindNodes, func() error {
		return paged(ctx, lo(), func(o metav1.ListOptions) (string, error) {
			l, err := kc.CoreV1().Nodes().List(ctx, o)
			if err != nil {
				return "", err
			}
			mu.Lock()
			for _, n := range l.Items {
				ns := NodeSummary{Name: n.Name, CPUMilli: n.Status.Allocatable.Cpu().MilliValue(), MemoryB: n.Status.Allocatable.Memory().Value()}
				for _, c := range n.Status.Conditions {
					if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
						ns.Ready = true
					}
				}
				s.Nodes = append(s.Nodes, ns)
			}
			mu.Unlock()
			return l.Continue, nil
		})
	})
	run(KindVersion, func() error {
		v, err := kc.Discovery().ServerVersion()
		if err != nil {
			return err
		}
		s.ServerVersion = v.GitVersion
		fmt.Sscanf(strings.TrimRight(v.Minor, "+"), "%d", &s.ServerMinor)
		if v.Major != "1" {
			s.ServerMinor = 999
		}
		return nil
	})
	run(KindAPIServices, func() error {
		gvr := schema.GroupVersionResource{Group: "apiregistration.k8s.io", Version: "v1", Resource: "apiservices"}
		u, err := c.Dynamic.Resource(gvr).Get(ctx, "v1beta1.metrics.k8s.io", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		s.Metrics.Present = true
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, ci := range conds {
			cm, _ := ci.(map[string]any)
			if cm["type"] == "Available" {
				s.Metrics.Available = cm["status"] == "True"
				msg, _ := cm["message"].(string)
				reason, _ := cm["reason"].(string)
				s.Metrics.Message = strings.TrimSpace(reason + ": " + msg)
			}
		}
		return nil
	})
	run(KindCertificates, func() error {
		if _, err := kc.Discovery().ServerResourcesForGroupVersion("cert-manager.io/v1"); err != nil {
			if apierrors.IsNotFound(err) {
				return nil
			}
			return err
		}
		s.CertManager = true
		gvr := schema.GroupVersionResource{Group: "cert-manager.io", Version: "v1", Resource: "certificates"}
		return paged(ctx, lo(), func(o metav1.ListOptions) (string, error) {
			l, err := c.Dynamic.Resource(gvr).Namespace(ns).List(ctx, o)
			if err != nil {
				return "", err
			}
			s.Certificates = append(s.Certificates, l.Items...)
			return l.GetContinue(), nil
		})
	})
	wg.Wait()
	if fatal != nil {
		return nil, fatal
	}
	return s, nil
}

// paged runs a LIST page by page until the server gives no continue token.
func paged(ctx context.Context, o metav1.ListOptions, page func(metav1.ListOptions) (string, error)) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		cont, err := page(o)
		if err != nil {
			return err
		}
		if cont == "" {
			return nil
		}
		o.Continue = cont
	}
}

func eventTime(e *corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

func summarizePod(p *corev1.Pod, now time.Time) PodSummary {
	s := PodSummary{Name: p.Name, Component: app.ComponentNameForLabels(p.Labels), Phase: p.Status.Phase, Deleting: p.DeletionTimestamp != nil}
	if ref := metav1.GetControllerOf(p); ref != nil {
		s.Owner = ref.Kind + "/" + ref.Name
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			s.Ready = c.Status == corev1.ConditionTrue
			if !c.LastTransitionTime.IsZero() {
				if s.Ready {
					s.ReadyFor = now.Sub(c.LastTransitionTime.Time)
				} else {
					s.NotReadyFor = now.Sub(c.LastTransitionTime.Time)
				}
			}
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if cs.RestartCount > s.Restarts {
			s.Restarts, s.RestartContainer = cs.RestartCount, cs.Name
		}
	}
	s.Problems = kube.PodProblems(p)
	if len(s.Problems) > 0 {
		s.MemoryLimits = map[string]string{}
		for _, c := range append(append([]corev1.Container{}, p.Spec.InitContainers...), p.Spec.Containers...) {
			if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
				s.MemoryLimits[c.Name] = q.String()
			}
		}
	}
	for _, c := range p.Spec.Containers {
		s.Containers = append(s.Containers, c.Name)
	}
	claims := map[string]string{}
	for _, v := range p.Spec.Volumes {
		if v.PersistentVolumeClaim != nil {
			claims[v.Name] = v.PersistentVolumeClaim.ClaimName
		}
	}
	if len(claims) > 0 {
		s.Mounts = map[string]string{}
		for _, c := range p.Spec.Containers {
			for _, m := range c.VolumeMounts {
				if claim, ok := claims[m.Name]; ok {
					if _, seen := s.Mounts[claim]; !seen {
						s.Mounts[claim] = c.Name + ":" + m.MountPath
					}
				}
			}
		}
	}
	return s
}

func summarizeSecret(sec *corev1.Secret) SecretInfo {
	info := SecretInfo{Type: sec.Type, Keys: map[string]bool{}}
	for k := range sec.Data {
		info.Keys[k] = true
	}
	for k := range sec.StringData {
		info.Keys[k] = true
	}
	if crt, ok := sec.Data[corev1.TLSCertKey]; ok && (sec.Type == corev1.SecretTypeTLS || len(crt) > 0) {
		block, _ := pem.Decode(crt)
		if block == nil {
			info.CertErr = "tls.crt is not PEM"
		} else if cert, err := x509.ParseCertificate(block.Bytes); err != nil {
			info.CertErr = "tls.crt does not parse as a certificate"
		} else {
			info.CertNotAfter = cert.NotAfter
		}
	}
	return info
}

// quantity parses a resource quantity, returning zero on error.
func quantity(s string) resource.Quantity {
	q, err := resource.ParseQuantity(s)
	if err != nil {
		return resource.Quantity{}
	}
	return q
}
