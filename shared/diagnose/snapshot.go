package diagnose

import (
	"crypto/x509"
	"encoding/pem"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/redact"
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
	UID       string
	Component string
	Phase     corev1.PodPhase
	// Scheduled is true once the pod is bound to a node (PodScheduled True).
	Scheduled bool
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
	// Images maps each container (init containers included) to its image.
	Images map[string]string
	// Secrets names the Secrets the pod reads (env, envFrom, volumes): their
	// values are masked in what diagnose prints.
	Secrets []string
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
	// UID is the involved object's UID in the newest event ("" when unset).
	UID   string
	Count int32
	Last  time.Time
}

// NodeSummary is one node's readiness and allocatable resources.
type NodeSummary struct {
	Name              string
	Ready             bool
	CPUMilli, MemoryB int64
}

// MetricsAPI tells whether metrics.k8s.io is registered (Present) and
// Available, and why not (kube.MetricsAPI).
type MetricsAPI struct {
	Present bool
	kube.MetricsAPI
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

	// Mask masks the values of the app's Secret and of every Secret the pods
	// read (raw and base64) and the credential patterns: what `diagnose logs`
	// masks. nil masks the patterns only; MaskOK says whether the Secrets
	// could be read (see CanMask).
	Mask *redact.Masker

	// events groups the warning events while they are read (Collect).
	events map[string]*EventGroup
	// secretValues holds each Secret's values while they are read (Collect
	// keeps those the pods read in Mask and drops the rest).
	secretValues map[string][]string
}

// CanMask tells whether the Secret values could be read to mask them: false
// when the user may not list Secrets. Then log lines, which may hold any
// value, are left out of what diagnose prints.
func (s *Snapshot) CanMask() bool {
	_, forbidden := s.Errs[KindSecrets]
	return !forbidden
}

// MaskText masks a text that comes from the cluster (a log line, an event or
// condition message, an annotation): Secret values and credential patterns.
func (s *Snapshot) MaskText(text string) string { return s.Mask.Scrub(text) }

// maskTexts masks, in place, the texts of the snapshot that come from the
// cluster and that the checks quote: event messages, the messages of pod
// problems, of HPA conditions and of the metrics APIService.
func (s *Snapshot) maskTexts() {
	for i := range s.Events {
		s.Events[i].Message = s.MaskText(s.Events[i].Message)
	}
	for i := range s.Pods {
		for j := range s.Pods[i].Problems {
			s.Pods[i].Problems[j].Message = s.MaskText(s.Pods[i].Problems[j].Message)
		}
	}
	for i := range s.HPAs {
		for j := range s.HPAs[i].Status.Conditions {
			c := &s.HPAs[i].Status.Conditions[j]
			c.Message = s.MaskText(c.Message)
		}
	}
	s.Metrics.Message = s.MaskText(s.Metrics.Message)
}

// buildMask turns the values of the Secrets the pods read (and the app's
// Secret) into Mask, and drops every value.
func (s *Snapshot) buildMask() {
	names := map[string]bool{s.Env.Secret(): true}
	for _, p := range s.Pods {
		for _, n := range p.Secrets {
			names[n] = true
		}
	}
	var vs []string
	for n := range names {
		vs = append(vs, s.secretValues[n]...)
	}
	s.secretValues = nil
	s.Mask = redact.NewMasker(vs...)
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

func summarizePod(p *corev1.Pod, now time.Time) PodSummary {
	s := PodSummary{Name: p.Name, UID: string(p.UID), Component: app.ComponentNameForLabels(p.Labels), Phase: p.Status.Phase, Deleting: p.DeletionTimestamp != nil}
	if ref := metav1.GetControllerOf(p); ref != nil {
		s.Owner = ref.Kind + "/" + ref.Name
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled {
			s.Scheduled = c.Status == corev1.ConditionTrue
		}
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
	s.Secrets = kube.PodSecrets(p)
	s.Images = map[string]string{}
	for _, c := range p.Spec.InitContainers {
		s.Images[c.Name] = c.Image
	}
	for _, c := range p.Spec.Containers {
		s.Containers = append(s.Containers, c.Name)
		s.Images[c.Name] = c.Image
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
