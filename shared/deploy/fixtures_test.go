package deploy

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	clienttesting "k8s.io/client-go/testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/envfile"
)

// devNS is the dev environment's namespace: clitest's Global infers the env from it.
const devNS = "piyasa-chatbot-dev"

const (
	imgV1 = app.APIImage + ":v1.0.0"
	imgV2 = app.APIImage + ":v2.0.0"
	feV1  = app.FrontendImage + ":v1.0.0"
)

// liveApp returns the dev app's workloads, rolled out, plus its namespace,
// ConfigMap and Secret.
func liveApp(apiImage string) []runtime.Object {
	env := app.Environments["dev"]
	var objs []runtime.Object
	objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: devNS}, Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}})
	for _, c := range app.Components {
		img := "busybox:1.36"
		switch c.Name {
		case app.API, app.Worker:
			img = apiImage
		case app.Frontend:
			img = feV1
		}
		objs = append(objs, workload(env.WorkloadName(c), c, img, 1))
	}
	objs = append(objs,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: env.ConfigMap(), Namespace: devNS},
			Data: map[string]string{app.KeyLogLevel: "INFO", app.KeyLLMProvider: "openai", app.KeyTotalWorkers: "1"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: app.SecretName, Namespace: devNS},
			Data: map[string][]byte{app.KeyOpenAIAPIKey: []byte("sk-test-0123456789abcdef"), app.KeyAPIKey: []byte("k1")}},
	)
	return objs
}

// workload returns a rolled-out Deployment or StatefulSet of a component.
func workload(name string, c app.Component, image string, replicas int32) runtime.Object {
	meta := metav1.ObjectMeta{Name: name, Namespace: devNS, Generation: 1, UID: types.UID("uid-" + name),
		CreationTimestamp: metav1.Time{Time: clitest.Fixed.Add(-time.Hour)}, Annotations: map[string]string{}}
	tmpl := corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: c.Labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: c.Name, Image: image}}}}
	sel := &metav1.LabelSelector{MatchLabels: c.Labels}
	r := replicas
	if c.Kind == app.KindDeployment {
		return &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Replicas: &r, Selector: sel, Template: tmpl},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: r, UpdatedReplicas: r, ReadyReplicas: r, AvailableReplicas: r}}
	}
	return &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Replicas: &r, Selector: sel, Template: tmpl,
		UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}},
		Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: r, UpdatedReplicas: r, ReadyReplicas: r, AvailableReplicas: r,
			CurrentRevision: "r1", UpdateRevision: "r1"}}
}

// run executes the deploy binary's command line on the fake Global.
func run(tt *clitest.T, args ...string) error {
	root := NewCmd(tt.Global)
	root.SetArgs(args)
	return root.ExecuteContext(context.Background())
}

// code is the exit code the binary would give for err.
func code(err error) int {
	if err == nil {
		return 0
	}
	return cli.Classify(err, "").Code
}

func forbidden(resource string) error {
	return apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: resource}, "x",
		errFake(`User "dev" cannot patch resource "`+resource+`" in API group "apps" in the namespace "`+devNS+`"`))
}

func conflict(resource string) error {
	return apierrors.NewConflict(schema.GroupResource{Resource: resource}, "x", errFake("the object has been modified"))
}

type errFake string

func (e errFake) Error() string { return string(e) }

// failOn makes the n-th (1-based) call of verb on resource fail with err
// (n = 0: every call); it counts the calls.
func failOn(tt *clitest.T, verb, resource string, n int32, err error) *atomic.Int32 {
	var calls atomic.Int32
	tt.Fake.PrependReactor(verb, resource, func(clienttesting.Action) (bool, runtime.Object, error) {
		c := calls.Add(1)
		if n == 0 || c == n {
			return true, nil, err
		}
		return false, nil, nil
	})
	return &calls
}

func getDeploy(t *testing.T, tt *clitest.T, name string) *appsv1.Deployment {
	t.Helper()
	d, err := tt.Fake.AppsV1().Deployments(devNS).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func getSTS(t *testing.T, tt *clitest.T, name string) *appsv1.StatefulSet {
	t.Helper()
	s, err := tt.Fake.AppsV1().StatefulSets(devNS).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// setDeployStatus replaces a Deployment's status in the fake.
func setDeployStatus(t *testing.T, tt *clitest.T, name string, f func(*appsv1.DeploymentStatus)) {
	t.Helper()
	d := getDeploy(t, tt, name)
	f(&d.Status)
	if _, err := tt.Fake.AppsV1().Deployments(devNS).UpdateStatus(context.Background(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// crashingPod is a pod of a component in CrashLoopBackOff.
func crashingPod(name string, c app.Component) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: devNS, Labels: c.Labels},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: c.Name, RestartCount: 3,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off 40s"}}}}}}
}

// fakeApply makes the dynamic fake answer server-side applies (which it
// cannot create objects with) by echoing the object, and counts them; after
// is called with the count.
func fakeApply(tt *clitest.T, after func(n int32)) *atomic.Int32 {
	var n atomic.Int32
	tt.FakeDynamic.PrependReactor("patch", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
		pa, ok := a.(clienttesting.PatchAction)
		if !ok || pa.GetPatchType() != types.ApplyPatchType {
			return false, nil, nil
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(pa.GetPatch()); err != nil {
			return true, nil, err
		}
		c := n.Add(1)
		if after != nil {
			after(c)
		}
		return true, u, nil
	})
	return &n
}

func has(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

func component(name string) app.Component {
	c, _ := app.LookupComponent(name)
	return c
}

// writeEnv writes a valid generated .env into dir, without the keys in drop
// (comma-separated), and returns its path.
func writeEnv(t *testing.T, dir, name, drop string) string {
	t.Helper()
	content, err := envfile.Generate()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, line := range strings.Split(content, "\n") {
		key, _, _ := strings.Cut(line, "=")
		if drop != "" && contains(strings.Split(drop, ","), key) {
			continue
		}
		b.WriteString(line + "\n")
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// cli_error returns err as the suite's error type (nil if it is not one).
func cli_error(err error) *cli.Error {
	var e *cli.Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// runCase runs args on tt, fails the test unless it exits with wantCode, and
// reports whether its output (stdout, stderr and the error) lacks out; it
// returns that output.
func runCase(t *testing.T, tt *clitest.T, args []string, wantCode int, out string) string {
	t.Helper()
	err := run(tt, args...)
	stdout, stderr := tt.Output()
	all := stdout + stderr
	if err != nil {
		all += err.Error()
	}
	if got := code(err); got != wantCode {
		t.Fatalf("exit %d, want %d: %s", got, wantCode, all)
	}
	if !strings.Contains(all, out) {
		t.Errorf("output lacks %q:\n%s", out, all)
	}
	return all
}
