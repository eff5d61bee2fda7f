package app

import (
	"fmt"
	"sort"
	"strings"
)

// Environment is one deployment target of the app (dev or prod: namespace, name prefix, replicas).
type Environment struct {
	// Name is dev or prod.
	Name string
	// Namespace is the environment's default namespace.
	Namespace string
	// Prefix is the Kustomize name prefix of every object.
	Prefix string
	// Replicas is the desired replica count per component.
	Replicas map[string]int32
	// LogLevel and TotalWorkers are the overlay's ConfigMap values.
	LogLevel     string
	TotalWorkers int32
	// TLS is true where the Ingress terminates TLS through cert-manager.
	TLS bool
	// Domain is the Ingress's host domain.
	Domain string
	// Resources holds the requests and limits per component (guide, Appendix A).
	Resources map[string]Resources
}

var commonResources = map[string]Resources{
	Frontend: {"100m", "500m", "128Mi", "512Mi"},
	Postgres: {"250m", "1000m", "256Mi", "1Gi"},
	Redis:    {"100m", "500m", "128Mi", "512Mi"},
}

func withCommon(own map[string]Resources) map[string]Resources {
	out := map[string]Resources{}
	for k, v := range commonResources {
		out[k] = v
	}
	for k, v := range own {
		out[k] = v
	}
	return out
}

// Environments holds the known environments by name.
var Environments = map[string]Environment{
	"dev": {
		Name: "dev", Namespace: "piyasa-chatbot-dev", Prefix: "dev-",
		Replicas:     map[string]int32{API: 1, Worker: 2, Frontend: 1, Postgres: 1, Redis: 1},
		LogLevel:     "DEBUG",
		TotalWorkers: 2,
		Domain:       "piyasa-chatbot.local",
		Resources: withCommon(map[string]Resources{
			API:    {"250m", "500m", "256Mi", "512Mi"},
			Worker: {"500m", "1000m", "512Mi", "1Gi"},
		}),
	},
	"prod": {
		Name: "prod", Namespace: "piyasa-chatbot", Prefix: "prod-",
		Replicas:     map[string]int32{API: 3, Worker: 6, Frontend: 3, Postgres: 1, Redis: 1},
		LogLevel:     "INFO",
		TotalWorkers: 6,
		TLS:          true,
		Domain:       "piyasa-chatbot.example.com",
		Resources: withCommon(map[string]Resources{
			API:    {"500m", "2000m", "512Mi", "2Gi"},
			Worker: {"1000m", "4000m", "1Gi", "4Gi"},
		}),
	},
}

// DefaultEnvironment is used when neither --env nor a known namespace says otherwise.
const DefaultEnvironment = "dev"

// EnvironmentNames returns the known environment names, sorted.
func EnvironmentNames() []string {
	names := make([]string, 0, len(Environments))
	for n := range Environments {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LookupEnvironment finds an environment by name. The error names the valid ones.
func LookupEnvironment(name string) (Environment, error) {
	if e, ok := Environments[name]; ok {
		return e, nil
	}
	return Environment{}, fmt.Errorf("unknown environment %q: use --env %s", name, strings.Join(EnvironmentNames(), "|"))
}

// EnvironmentForNamespace returns the environment whose default namespace is ns.
func EnvironmentForNamespace(ns string) (Environment, bool) {
	for _, e := range Environments {
		if e.Namespace == ns {
			return e, true
		}
	}
	return Environment{}, false
}

// Name returns an object's name in this environment (the prefix applied).
func (e Environment) ObjectName(base string) string { return e.Prefix + base }

// WorkloadName returns the component's workload name in this environment.
func (e Environment) WorkloadName(c Component) string { return e.Prefix + c.Workload }

// ServiceName returns the component's Service name in this environment.
func (e Environment) ServiceName(c Component) string { return e.Prefix + c.Service }

// ConfigMap returns the name of piyasa-config in this environment.
func (e Environment) ConfigMap() string { return e.Prefix + ConfigMapName }

// Secret returns the name of piyasa-secrets in this environment. The Secret is
// made from the user's .env by the suite, not by Kustomize, so it keeps its
// base name in every environment.
func (e Environment) Secret() string { return SecretName }
