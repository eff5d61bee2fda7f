// Package bundle writes the support bundle of `kubectl piyasa diagnose bundle`:
// a gzip-compressed tar of the diagnose report, pod and workload status,
// events, the last log lines of failing pods and the app's objects as YAML.
// Every file passes through redaction: Secret data and any ConfigMap value
// whose key or content looks like a password, token or key are masked, env
// values of sensitive names are masked, and finally every known Secret value
// of the namespace (and its base64 form) is scrubbed from every file.
package bundle

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/redact"
)

// Input is what the bundle is made of.
type Input struct {
	Namespace string
	Kube      kubernetes.Interface
	Dynamic   dynamic.Interface
	// Files are added as they are (after scrubbing), e.g. report.json and report.txt.
	Files map[string][]byte
	// TailLines of each failing container's log (current and previous).
	TailLines int64
	// MaxLogPods bounds the pods whose logs are read.
	MaxLogPods int
	Now        time.Time
}

// Kinds are the app objects written as YAML, one file per object.
var Kinds = []schema.GroupVersionResource{
	{Group: "apps", Version: "v1", Resource: "deployments"},
	{Group: "apps", Version: "v1", Resource: "statefulsets"},
	{Group: "batch", Version: "v1", Resource: "cronjobs"},
	{Group: "batch", Version: "v1", Resource: "jobs"},
	{Version: "v1", Resource: "services"},
	{Version: "v1", Resource: "configmaps"},
	{Version: "v1", Resource: "secrets"},
	{Version: "v1", Resource: "persistentvolumeclaims"},
	{Version: "v1", Resource: "serviceaccounts"},
	{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"},
	{Group: "networking.k8s.io", Version: "v1", Resource: "networkpolicies"},
	{Group: "autoscaling", Version: "v2", Resource: "horizontalpodautoscalers"},
	{Group: "policy", Version: "v1", Resource: "poddisruptionbudgets"},
}

type file struct {
	name string
	data []byte
}

// Result says what Write put in the bundle.
type Result struct {
	// Files are the names of the files written.
	Files []string
	// Redacted is true when the Secrets could be read, so their values are
	// scrubbed from every file. Without them the logs are left out (a log
	// line may hold any value) and the other files are masked for credential
	// patterns only.
	Redacted bool
}

// LogsLeftOut is the bundle's note when the Secrets cannot be read.
const LogsLeftOut = "logs/: left out: the Secrets needed to mask them cannot be read (RBAC: list secrets)"

// Write builds the bundle and writes it to w. The bundle's README.txt says
// what could not be read.
func Write(ctx context.Context, w io.Writer, in Input) (Result, error) {
	if in.TailLines <= 0 {
		in.TailLines = 200
	}
	if in.MaxLogPods <= 0 {
		in.MaxLogPods = 20
	}
	b := &builder{in: in}
	if err := b.addObjects(ctx); err != nil {
		return Result{}, err
	}
	if err := b.addPods(ctx); err != nil {
		return Result{}, err
	}
	if err := b.addEvents(ctx); err != nil {
		return Result{}, err
	}
	for name, data := range in.Files {
		b.files = append(b.files, file{name, data})
	}
	b.addReadme()
	return b.writeTar(w)
}

// builder gathers the files of a bundle and what could not be read.
type builder struct {
	in           Input
	files        []file
	notes        []string
	secretValues []string
	secretsRead  bool
	logPods      int
}

// addObjects writes the app's objects as YAML and keeps the Secret values
// (and sensitive ConfigMap values) to scrub.
func (b *builder) addObjects(ctx context.Context) error {
	for _, gvr := range Kinds {
		list, err := listAll(ctx, b.in.Dynamic.Resource(gvr).Namespace(b.in.Namespace))
		if err != nil {
			if apierrors.IsForbidden(err) || apierrors.IsNotFound(err) {
				b.notes = append(b.notes, fmt.Sprintf("%s: not read (%s)", gvr.Resource, output.FirstLine(err.Error())))
				continue
			}
			return err
		}
		if gvr.Resource == "secrets" {
			b.secretsRead = true
		}
		for i := range list {
			u := &list[i]
			if gvr.Resource == "secrets" {
				b.secretValues = append(b.secretValues, secretStrings(u)...)
			}
			if gvr.Resource == "configmaps" {
				data, _, _ := unstructured.NestedStringMap(u.Object, "data")
				for k, v := range data {
					if redact.Value(k, v) != v {
						b.secretValues = append(b.secretValues, v)
					}
				}
			}
			RedactObject(u)
			y, err := yaml.Marshal(u.Object)
			if err != nil {
				return err
			}
			b.files = append(b.files, file{fmt.Sprintf("objects/%s/%s.yaml", gvr.Resource, u.GetName()), y})
		}
	}
	return nil
}

// addPods writes pods.txt, a status table of all pods, and the YAML and logs
// of the failing ones.
func (b *builder) addPods(ctx context.Context) error {
	var podTable strings.Builder
	fmt.Fprintf(&podTable, "%-50s %-10s %-8s %-9s %s\n", "NAME", "PHASE", "READY", "RESTARTS", "PROBLEMS")
	opts := metav1.ListOptions{Limit: 500}
	for {
		l, err := b.in.Kube.CoreV1().Pods(b.in.Namespace).List(ctx, opts)
		if err != nil {
			if apierrors.IsForbidden(err) {
				b.notes = append(b.notes, "pods: not read ("+output.FirstLine(err.Error())+")")
				break
			}
			return err
		}
		for i := range l.Items {
			if err := b.addPod(ctx, &podTable, &l.Items[i]); err != nil {
				return err
			}
		}
		if l.Continue == "" {
			break
		}
		opts.Continue = l.Continue
	}
	b.files = append(b.files, file{"pods.txt", []byte(podTable.String())})
	if !b.secretsRead {
		b.notes = append(b.notes, LogsLeftOut)
	}
	return nil
}

// addPod writes the pod's row of the table and, when it fails, its YAML and
// logs.
func (b *builder) addPod(ctx context.Context, podTable *strings.Builder, p *corev1.Pod) error {
	probs := kube.PodProblems(p)
	ready, total, restarts := 0, len(p.Status.ContainerStatuses), int32(0)
	for _, cs := range p.Status.ContainerStatuses {
		if cs.Ready {
			ready++
		}
		restarts += cs.RestartCount
	}
	var ps []string
	for _, pr := range probs {
		ps = append(ps, pr.String())
	}
	fmt.Fprintf(podTable, "%-50s %-10s %-8s %-9d %s\n", p.Name, p.Status.Phase, fmt.Sprintf("%d/%d", ready, total), restarts, strings.Join(ps, "; "))
	if len(probs) == 0 && p.Status.Phase != corev1.PodPending && p.Status.Phase != corev1.PodFailed {
		return nil
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(p)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{Object: obj}
	u.SetAPIVersion("v1")
	u.SetKind("Pod")
	RedactObject(u)
	y, err := yaml.Marshal(u.Object)
	if err != nil {
		return err
	}
	b.files = append(b.files, file{"pods/" + p.Name + ".yaml", y})
	if b.logPods >= b.in.MaxLogPods || !b.secretsRead {
		return nil
	}
	b.logPods++
	b.addLogs(ctx, p)
	return nil
}

// addLogs writes the last lines of each container's current and previous log.
func (b *builder) addLogs(ctx context.Context, p *corev1.Pod) {
	for _, c := range p.Spec.Containers {
		for _, prev := range []bool{false, true} {
			tail := b.in.TailLines
			lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			data, err := b.in.Kube.CoreV1().Pods(b.in.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: c.Name, Previous: prev, TailLines: &tail}).DoRaw(lctx)
			cancel()
			name := fmt.Sprintf("logs/%s/%s.log", p.Name, c.Name)
			if prev {
				name = fmt.Sprintf("logs/%s/%s.previous.log", p.Name, c.Name)
			}
			if err != nil {
				b.notes = append(b.notes, fmt.Sprintf("%s: not read (%s)", name, output.FirstLine(err.Error())))
				continue
			}
			b.files = append(b.files, file{name, data})
		}
	}
}

// addEvents writes events.txt, the events of the namespace, oldest first.
func (b *builder) addEvents(ctx context.Context) error {
	evs, err := b.in.Kube.CoreV1().Events(b.in.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		if !apierrors.IsForbidden(err) {
			return err
		}
		b.notes = append(b.notes, "events: not read ("+output.FirstLine(err.Error())+")")
		return nil
	}
	items := evs.Items
	sort.SliceStable(items, func(i, j int) bool { a, b := kube.EventTime(items[i]), kube.EventTime(items[j]); return a.Before(&b) })
	var sb strings.Builder
	for _, e := range items {
		fmt.Fprintf(&sb, "%s\t%s\t%s/%s\t%s\tx%d\t%s\n", kube.EventTime(e).UTC().Format(time.RFC3339), e.Type, e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Count, e.Message)
	}
	b.files = append(b.files, file{"events.txt", []byte(sb.String())})
	return nil
}

// addReadme writes README.txt: how the bundle is redacted and what it lacks.
func (b *builder) addReadme() {
	scrubbed := "then every Secret value of the namespace (and its base64 form) and every\ncredential pattern"
	if !b.secretsRead {
		scrubbed = "the Secrets could not be read, so their values are NOT scrubbed and no log is\nincluded; every credential pattern"
	}
	readme := fmt.Sprintf(`kubectl piyasa diagnose bundle of namespace %s, made %s.

Redaction: Secret data values are replaced by %s (key names kept); ConfigMap values
whose key or content looks like a password, token or key are replaced; env values of
sensitive names are replaced; last-applied-configuration annotations and managedFields
are dropped; %s (URL passwords, KEY=value of sensitive names, bearer tokens, provider
API keys) is masked in every file.
`, b.in.Namespace, b.in.Now.UTC().Format(time.RFC3339), redact.Mask, scrubbed)
	if len(b.notes) > 0 {
		readme += "\nNot included:\n  " + strings.Join(b.notes, "\n  ") + "\n"
	}
	b.files = append(b.files, file{"README.txt", []byte(readme)})
}

// writeTar writes the files, scrubbed and sorted by name, as a gzip-compressed tar.
func (b *builder) writeTar(w io.Writer) (Result, error) {
	scrub := redact.NewScrubber(b.secretValues...)
	sort.Slice(b.files, func(i, j int) bool { return b.files[i].name < b.files[j].name })
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	root := "piyasa-bundle-" + b.in.Namespace + "/"
	var names []string
	for _, f := range b.files {
		data := []byte(scrub.Scrub(string(f.data)))
		hdr := &tar.Header{Name: root + f.name, Mode: 0o600, Size: int64(len(data)), ModTime: b.in.Now.Truncate(time.Second), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return Result{}, err
		}
		if _, err := tw.Write(data); err != nil {
			return Result{}, err
		}
		names = append(names, f.name)
	}
	if err := tw.Close(); err != nil {
		return Result{}, err
	}
	return Result{Files: names, Redacted: b.secretsRead}, gz.Close()
}

func listAll(ctx context.Context, ri dynamic.ResourceInterface) ([]unstructured.Unstructured, error) {
	var out []unstructured.Unstructured
	opts := metav1.ListOptions{Limit: 500}
	for {
		l, err := ri.List(ctx, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, l.Items...)
		if l.GetContinue() == "" {
			return out, nil
		}
		opts.Continue = l.GetContinue()
	}
}

// secretStrings returns the decoded values of a Secret (for scrubbing).
func secretStrings(u *unstructured.Unstructured) []string {
	var out []string
	for _, field := range []string{"data", "stringData"} {
		m, _, _ := unstructured.NestedMap(u.Object, field)
		for _, v := range m {
			s, _ := v.(string)
			if field == "data" {
				if dec, err := decodeB64(s); err == nil {
					out = append(out, redact.SecretValues(dec)...)
				}
			} else {
				out = append(out, s)
			}
		}
	}
	return out
}

// RedactObject masks the secret parts of an object in place: Secret data,
// sensitive ConfigMap values, env values of sensitive names, sensitive
// annotations; it drops managedFields and last-applied-configuration.
func RedactObject(u *unstructured.Unstructured) {
	unstructured.RemoveNestedField(u.Object, "metadata", "managedFields")
	if ann := u.GetAnnotations(); ann != nil {
		delete(ann, "kubectl.kubernetes.io/last-applied-configuration")
		for k, v := range ann {
			ann[k] = redact.Value(k, v)
		}
		u.SetAnnotations(ann)
	}
	switch u.GetKind() {
	case "Secret":
		for _, field := range []string{"data", "stringData"} {
			if m, ok, _ := unstructured.NestedMap(u.Object, field); ok {
				for k := range m {
					m[k] = redact.Mask
				}
				_ = unstructured.SetNestedMap(u.Object, m, field)
			}
		}
	case "ConfigMap":
		if m, ok, _ := unstructured.NestedStringMap(u.Object, "data"); ok {
			_ = unstructured.SetNestedStringMap(u.Object, redact.Map(m), "data")
		}
		if m, ok, _ := unstructured.NestedMap(u.Object, "binaryData"); ok {
			for k := range m {
				m[k] = redact.Mask
			}
			_ = unstructured.SetNestedMap(u.Object, m, "binaryData")
		}
	}
	walkEnv(u.Object)
}

// walkEnv masks env[].value of sensitive names anywhere in the object.
func walkEnv(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, child := range t {
			if k == "env" {
				if list, ok := child.([]any); ok {
					for _, item := range list {
						if e, ok := item.(map[string]any); ok {
							name, _ := e["name"].(string)
							if val, ok := e["value"].(string); ok {
								e["value"] = redact.Value(name, val)
							}
						}
					}
				}
			}
			walkEnv(child)
		}
	case []any:
		for _, item := range t {
			walkEnv(item)
		}
	}
}
