// Package app is the single description of the piyasa chat bot as it runs on
// Kubernetes: its components, labels, ports, configuration and secret keys, and
// environments. Every other package takes these facts from here.
package app

import (
	"fmt"
	"sort"
	"strings"
)

// APIVersion is the apiVersion of every document the suite prints with -o json|yaml.
const APIVersion = "piyasa.io/v1alpha1"

// FieldManager is the server-side apply field manager of the suite.
const FieldManager = "kubectl-piyasa"

// Names of the app's shared objects, before the environment's name prefix.
const (
	ConfigMapName = "piyasa-config"
	SecretName    = "piyasa-secrets"
	IngressName   = "piyasa-ingress"
	TLSSecretName = "piyasa-tls-cert"
	PartOfLabel   = "app.kubernetes.io/part-of"
	PartOfValue   = "piyasa"
)

// Workload kinds used by the components.
const (
	KindDeployment  = "Deployment"
	KindStatefulSet = "StatefulSet"
)

// Component is one part of the app: its workload, selector labels and Service.
type Component struct {
	// Name is what users type: api, worker, frontend, postgres, redis.
	Name string
	// Kind is Deployment or StatefulSet.
	Kind string
	// Workload is the workload's name before the environment prefix.
	Workload string
	// Labels select the component's pods.
	Labels map[string]string
	// Service is the Service's name before the environment prefix.
	Service string
	// Headless is true for the StatefulSets' governing Services.
	Headless bool
	// Port is the container and Service port (0: none).
	Port int32
	// PortName names the port.
	PortName string
	// HPA names the component's HorizontalPodAutoscaler ("" when it has none). The
	// workers have none by design: an HPA cannot keep TOTAL_WORKERS equal to the
	// replicas, so `kubectl piyasa scale worker N` changes both together.
	HPA string
	// UsesConfig and UsesSecret say whether the pods read piyasa-config / piyasa-secrets.
	UsesConfig, UsesSecret bool
	// Stateful components hold data (PostgreSQL, Redis).
	Stateful bool
	// Scalable components may run more than one replica.
	Scalable bool
}

// Component names.
const (
	API      = "api"
	Worker   = "worker"
	Frontend = "frontend"
	Postgres = "postgres"
	Redis    = "redis"
)

// Components lists the app's components in the order the suite shows them.
var Components = []Component{
	{Name: API, Kind: KindDeployment, Workload: "api", Labels: map[string]string{"app": "piyasa-api", "component": "backend"},
		Service: "api-service", Port: 8000, PortName: "http", HPA: "api-hpa", UsesConfig: true, UsesSecret: true, Scalable: true},
	{Name: Worker, Kind: KindStatefulSet, Workload: "worker", Labels: map[string]string{"app": "piyasa-worker", "component": "worker"},
		Service: "worker-service", Headless: true, UsesConfig: true, UsesSecret: true, Scalable: true},
	{Name: Frontend, Kind: KindDeployment, Workload: "frontend", Labels: map[string]string{"app": "piyasa-frontend", "component": "frontend"},
		Service: "frontend-service", Port: 5173, PortName: "http", HPA: "frontend-hpa", Scalable: true},
	{Name: Postgres, Kind: KindDeployment, Workload: "postgres", Labels: map[string]string{"app": "postgres"},
		Service: "db-service", Port: 5432, PortName: "postgres", UsesSecret: true, Stateful: true},
	{Name: Redis, Kind: KindStatefulSet, Workload: "redis", Labels: map[string]string{"app": "redis"},
		Service: "redis-service", Headless: true, Port: 6379, PortName: "redis", Stateful: true},
}

// ComponentNames returns the component names in display order.
func ComponentNames() []string {
	names := make([]string, len(Components))
	for i, c := range Components {
		names[i] = c.Name
	}
	return names
}

// LookupComponent finds a component by name. The error names the valid ones.
func LookupComponent(name string) (Component, error) {
	for _, c := range Components {
		if c.Name == name {
			return c, nil
		}
	}
	return Component{}, fmt.Errorf("unknown component %q: use one of %s", name, strings.Join(ComponentNames(), ", "))
}

// ComponentNameForLabels names the component whose selector labels are all
// among labels (a pod's or a pod template's), or "" when none is.
func ComponentNameForLabels(labels map[string]string) string {
	for _, c := range Components {
		match := true
		for k, v := range c.Labels {
			if labels[k] != v {
				match = false
				break
			}
		}
		if match {
			return c.Name
		}
	}
	return ""
}

// Selector returns the component's label selector as a string (keys sorted).
func (c Component) Selector() string {
	keys := make([]string, 0, len(c.Labels))
	for k := range c.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + c.Labels[k]
	}
	return strings.Join(parts, ",")
}

// Resources lists the CPU and memory requests and limits of a component (guide, Appendix A).
type Resources struct {
	CPURequest, CPULimit, MemoryRequest, MemoryLimit string
}
