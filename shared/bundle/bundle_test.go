package bundle

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
	k8stesting "k8s.io/client-go/testing"
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

// D8: without the right to list Secrets their values cannot be scrubbed: no
// log goes into the bundle, and it does not call itself redacted.
func TestWriteWithoutSecretsLeavesLogsOut(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "dev-api-crashy", Namespace: "ns"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "api",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}}}
	for _, canRead := range []bool{true, false} {
		dyn := dynamicfake.NewSimpleDynamicClient(scheme.Scheme)
		if !canRead {
			dyn.PrependReactor("list", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
				return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", errors.New("RBAC"))
			})
		}
		var buf bytes.Buffer
		res, err := Write(context.Background(), &buf, Input{Namespace: "ns", Kube: fake.NewClientset(pod), Dynamic: dyn, Now: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		files, err := Read(&buf)
		if err != nil {
			t.Fatal(err)
		}
		logs, readme := 0, ""
		for _, f := range files {
			if strings.Contains(f.Header.Name, "/logs/") {
				logs++
			}
			if strings.HasSuffix(f.Header.Name, "/README.txt") {
				readme = string(f.Data)
			}
		}
		if canRead && (logs == 0 || !res.Redacted) {
			t.Errorf("Secrets read: want the logs and Redacted, got %d logs, %+v", logs, res)
		}
		if !canRead && (logs != 0 || res.Redacted || !strings.Contains(readme, LogsLeftOut) || !strings.Contains(readme, "NOT scrubbed")) {
			t.Errorf("Secrets forbidden: want no logs, not Redacted and the note; got %d logs, %+v\n%s", logs, res, readme)
		}
	}
}
