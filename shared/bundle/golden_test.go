package bundle

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	dynamicfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/kubernetes/scheme"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestWriteGolden pins every file of a bundle of a namespace with a Secret, a
// sensitive ConfigMap value, a failing and a healthy pod and events.
func TestWriteGolden(t *testing.T) {
	now := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "dev-db", Namespace: "ns"},
		Data: map[string][]byte{"password": []byte("s3cr3t-canary")}}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dev-config", Namespace: "ns"},
		Data: map[string]string{"api_token": "tok-canary-123", "LOG_LEVEL": "info"}}
	bad := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "dev-api-crashy", Namespace: "ns"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Env: []corev1.EnvVar{{Name: "DB_PASSWORD", Value: "s3cr3t-canary"}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "api", RestartCount: 4,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}}}
	good := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "dev-api-ok", Namespace: "ns"},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "api"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "api", Ready: true}}}}
	pending := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "dev-worker-0", Namespace: "ns"},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "worker"}}},
		Status: corev1.PodStatus{Phase: corev1.PodPending}}
	ev := func(name, reason string, at time.Time) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"}, Type: "Warning", Reason: reason, Count: 2,
			Message: reason + " of dev-api-crashy", InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "dev-api-crashy"}, LastTimestamp: metav1.NewTime(at)}
	}
	var buf bytes.Buffer
	res, err := Write(context.Background(), &buf, Input{Namespace: "ns",
		Kube:    fake.NewClientset(bad, good, pending, ev("e2", "BackOff", now.Add(-time.Minute)), ev("e1", "Pulled", now.Add(-time.Hour))),
		Dynamic: dynamicfake.NewSimpleDynamicClient(scheme.Scheme, secret, cm, bad),
		Files:   map[string][]byte{"report.txt": []byte("password s3cr3t-canary in the report\n")}, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	files, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	var got strings.Builder
	fmt.Fprintf(&got, "files %v redacted %v\n", res.Files, res.Redacted)
	for _, f := range files {
		fmt.Fprintf(&got, "=== %s %o %s\n%s", f.Header.Name, f.Header.Mode, f.Header.ModTime.UTC().Format(time.RFC3339), f.Data)
	}
	golden := filepath.Join("testdata", "bundle.golden.txt")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != string(want) {
		t.Errorf("bundle differs from %s (run go test ./shared/bundle -run TestWriteGolden -update and review the diff):\n%s", golden, got.String())
	}
}
