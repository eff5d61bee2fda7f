package bundle

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

func TestRedactObject(t *testing.T) {
	objs := []string{`apiVersion: v1
kind: Secret
metadata:
  name: s
  annotations:
    kubectl.kubernetes.io/last-applied-configuration: '{"data":{"API_KEY":"c2VjcmV0LXZhbHVlLTE="}}'
data:
  API_KEY: c2VjcmV0LXZhbHVlLTE=
stringData:
  OTHER: secret-value-2
`, `apiVersion: v1
kind: ConfigMap
metadata: {name: c}
data:
  LOG_LEVEL: DEBUG
  DB_PASSWORD: secret-value-3
  DATABASE_URL: postgresql://u:secret-value-4@db:5432/x
`, `apiVersion: apps/v1
kind: Deployment
metadata: {name: d, managedFields: [{manager: x}]}
spec:
  template:
    spec:
      containers:
      - name: c
        env:
        - {name: ADMIN_TOKEN, value: secret-value-5}
        - {name: LOG_LEVEL, value: DEBUG}
`}
	for _, y := range objs {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(y), &m); err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{Object: m}
		RedactObject(u)
		out, err := yaml.Marshal(u.Object)
		if err != nil {
			t.Fatal(err)
		}
		s := string(out)
		for _, bad := range []string{"secret-value", "c2VjcmV0LXZhbHVl", "last-applied", "managedFields"} {
			if strings.Contains(s, bad) {
				t.Errorf("%s kept %q:\n%s", u.GetKind(), bad, s)
			}
		}
		if u.GetKind() != "Secret" && !strings.Contains(s, "DEBUG") {
			t.Errorf("plain value lost:\n%s", s)
		}
	}
}

// TestWriteTimesNotInTheFuture: tar rounds mtimes to the nearest second, so
// an unrounded clock put entries up to half a second in the future (tar -x warned).
func TestWriteTimesNotInTheFuture(t *testing.T) {
	now := time.Date(2026, 12, 1, 3, 0, 0, 900_000_000, time.UTC)
	var buf bytes.Buffer
	_, err := Write(context.Background(), &buf, Input{Namespace: "ns", Kube: fake.NewClientset(),
		Dynamic: dynamicfake.NewSimpleDynamicClient(scheme.Scheme), Files: map[string][]byte{"report.json": []byte("{}")}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	files, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	n := len(files)
	for _, f := range files {
		if f.Header.ModTime.After(now) {
			t.Errorf("%s: mtime %s after %s", f.Header.Name, f.Header.ModTime, now)
		}
	}
	if n == 0 {
		t.Fatal("empty bundle")
	}
}
