// Package clitest gives unit tests a cli.Global on fake clients, as kubectl's
// TestFactory and Argo Rollouts' fake options do: a command built with
// NewCmd(g) then runs against fake.NewClientset(objs...) with its output in
// buffers.
package clitest

import (
	"bytes"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// Fixed is the clock of a test Global.
var Fixed = time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)

// T is a Global on fake clients with its streams captured.
type T struct {
	*cli.Global
	// Fake is the typed fake; add reactors to it (PrependReactor) for Forbidden or Conflict.
	Fake *fake.Clientset
	// FakeDynamic is the dynamic fake, on the same objects' scheme.
	FakeDynamic *dynamicfake.FakeDynamicClient
	// In, Stdout and Stderr are the command's streams.
	In             *bytes.Buffer
	Stdout, Stderr *bytes.Buffer
}

// New returns a Global in namespace ns (env from the namespace, as -n gives)
// whose typed and dynamic clients are fakes holding objs.
func New(ns string, objs ...runtime.Object) *T {
	return newOn(ns, fake.NewClientset(objs...), dynamicfake.NewSimpleDynamicClient(scheme.Scheme, objs...))
}

// newOn returns a Global in namespace ns on the given fakes.
func newOn(ns string, cs *fake.Clientset, dyn *dynamicfake.FakeDynamicClient) *T {
	streams, in, out, errOut := genericiooptions.NewTestIOStreams()
	g := cli.NewGlobal(streams)
	g.Now = func() time.Time { return Fixed }
	// Nothing of the developer's shell ($PIYASA_ENV) may leak in.
	g.Getenv = func(string) string { return "" }
	if ns != "" {
		*g.ConfigFlags.Namespace = ns
	}
	// No kubeconfig of the developer's may leak in.
	empty := ""
	g.ConfigFlags.KubeConfig = &empty
	g.KubeClient = cs
	g.DynamicClient = dyn
	g.RESTClientGetter = &getter{ConfigFlags: g.ConfigFlags, mapper: mapper()}
	return &T{Global: g, Fake: cs, FakeDynamic: dyn, In: in, Stdout: out, Stderr: errOut}
}

// Output returns stdout and stderr so far.
func (t *T) Output() (stdout, stderr string) { return t.Stdout.String(), t.Stderr.String() }

// Lines returns stderr split into lines.
func (t *T) Lines() []string { return strings.Split(strings.TrimSpace(t.Stderr.String()), "\n") }

// getter serves the fake mapper; REST configs still come from the flags (a
// test that needs a real server uses the e2e harness instead).
type getter struct {
	*genericclioptions.ConfigFlags
	mapper meta.RESTMapper
}

func (g *getter) ToRESTMapper() (meta.RESTMapper, error) { return g.mapper, nil }

// mapper is Mapper, made once (it is read-only).
var mapper = sync.OnceValue(Mapper)

// Mapper maps the built-in kinds of client-go's scheme to their resources.
func Mapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	for gvk := range scheme.Scheme.AllKnownTypes() {
		if gvk.Version == runtime.APIVersionInternal || strings.HasSuffix(gvk.Kind, "List") || strings.HasSuffix(gvk.Kind, "Options") {
			continue
		}
		scope := meta.RESTScopeNamespace
		switch gvk.Kind {
		case "Namespace", "Node", "PersistentVolume", "StorageClass", "ClusterRole", "ClusterRoleBinding",
			"CustomResourceDefinition", "APIService", "PriorityClass", "IngressClass", "CSIDriver", "CSINode",
			"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration", "RuntimeClass", "VolumeAttachment":
			scope = meta.RESTScopeRoot
		}
		m.Add(gvk, scope)
	}
	// Kinds outside client-go's scheme that the app's manifests hold.
	m.Add(schema.GroupVersionKind{Group: "cert-manager.io", Version: "v1", Kind: "Certificate"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}, meta.RESTScopeNamespace)
	m.Add(schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "PrometheusRule"}, meta.RESTScopeNamespace)
	return m
}
