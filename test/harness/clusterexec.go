package harness

import (
	"encoding/json"
	"strings"
	"testing"
)

// ClusterExecYAML is a kwok ClusterExec object named name: every `kubectl
// exec` into a pod of the namespaces runs as a local command in workDir with
// the environment env (KEY=VALUE pairs, in order; a key given twice: the last
// wins, as kwok appends them). It is the one builder of these objects
// (ApplyClusterExec applies one for a test).
func ClusterExecYAML(name string, namespaces []string, workDir string, env ...string) string {
	type envVar struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	envs := make([]envVar, 0, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		envs = append(envs, envVar{k, v})
	}
	local := map[string]any{"envs": envs}
	if workDir != "" {
		local["workDir"] = workDir
	}
	doc := map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "ClusterExec", "metadata": map[string]any{"name": name},
		"spec": map[string]any{
			"selector": map[string]any{"matchNamespaces": namespaces},
			"execs":    []any{map[string]any{"local": local}},
		},
	}
	b, err := json.Marshal(doc) // JSON is YAML
	if err != nil {
		panic(err) // strings and maps only: cannot happen
	}
	return string(b)
}

// ApplyClusterExec applies ClusterExecYAML(name, [ns], workDir, env...) to
// the package's cluster and deletes the object when the test ends.
func ApplyClusterExec(t testing.TB, name, ns, workDir string, env ...string) {
	t.Helper()
	Primary().ApplyClusterExec(t, name, ns, workDir, env...)
}

// ApplyClusterExec is the package function ApplyClusterExec in this cluster.
func (c *Cluster) ApplyClusterExec(t testing.TB, name, ns, workDir string, env ...string) {
	t.Helper()
	c.ApplyYAML(t, "", ClusterExecYAML(name, []string{ns}, workDir, env...))
	t.Cleanup(func() { c.Kubectl(t, "delete", "clusterexec", name, "--ignore-not-found").Run() })
}
