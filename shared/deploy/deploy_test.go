package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clienttesting "k8s.io/client-go/testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

// TestBareDryRunKeepsNextFlag: `deploy --dry-run --kubeconfig K` is a client
// dry run with K as the kubeconfig, as kubectl parses it (issue 9 #3).
func TestBareDryRunKeepsNextFlag(t *testing.T) {
	env := writeEnv(t, t.TempDir(), ".env", "")
	tt := clitest.New(devNS)
	err := run(tt, "--dry-run", "--kubeconfig", "/nonexistent/kubeconfig", "--env-file", env)
	stdout, stderr := tt.Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	if got := *tt.ConfigFlags.KubeConfig; got != "/nonexistent/kubeconfig" {
		t.Fatalf("--kubeconfig = %q", got)
	}
	if !has(stdout, "deployment/dev-api (dry run)", "secret/piyasa-secrets") || !strings.Contains(stderr, "--dry-run=client") {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	if n := len(tt.Fake.Actions()); n != 0 {
		t.Fatalf("a client dry run sent %d requests", n)
	}
	// A value that is not kubectl's is bad input.
	tt = clitest.New(devNS)
	if err := run(tt, "--dry-run=maybe", "--env-file", env); code(err) != 2 {
		t.Fatalf("--dry-run=maybe: %v", err)
	}
}

// TestDeployPrintsReverts: a redeploy says what it puts back (issue 16 #13),
// and diff shows the same plan.
func TestDeployPrintsReverts(t *testing.T) {
	env := writeEnv(t, t.TempDir(), ".env", "")
	objs := append(liveApp(imgV1), &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "dev-api-hpa", Namespace: devNS},
		Spec:       autoscalingv2.HorizontalPodAutoscalerSpec{MinReplicas: ptr(int32(4)), MaxReplicas: 12}})
	tt := clitest.New(devNS, objs...)
	applied := fakeApply(tt, nil)
	err := run(tt, "--env-file", env, "--wait=false")
	stdout, stderr := tt.Output()
	if err != nil {
		t.Fatalf("%v\n%s", err, stderr)
	}
	for _, want := range []string{
		"keeping the running api/worker image " + imgV1,
		"keeping the running frontend image " + feV1,
		"reverting LOG_LEVEL INFO -> DEBUG (configmap/dev-piyasa-config)",
		"reverting HPA dev-api-hpa 4-12 -> 1-10 replicas",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	if !has(stdout, "deployment/dev-api restarted (piyasa-config, piyasa-secrets changed)", "statefulset/dev-worker restarted") {
		t.Errorf("stdout:\n%s", stdout)
	}
	if applied.Load() < 20 {
		t.Errorf("only %d objects applied", applied.Load())
	}
	// One plan: piyasa-config is read once (worker count, reverts, restarts).
	gets := 0
	for _, a := range tt.Fake.Actions() {
		if a.GetVerb() == "get" && a.GetResource().Resource == "configmaps" {
			gets++
		}
	}
	if gets != 1 {
		t.Errorf("piyasa-config read %d times", gets)
	}

	// diff on an app that runs v2.0.0 (the manifests say otherwise)
	objs = append(liveApp(imgV2), objs[len(objs)-1])
	tt = clitest.New(devNS, objs...)
	fakeApply(tt, nil)
	err = run(tt, "diff", "--env-file", env)
	stdout, _ = tt.Output()
	if code(err) != 1 || !has(stdout, "to be reverted: LOG_LEVEL INFO -> DEBUG", "to be reverted: HPA dev-api-hpa 4-12 -> 1-10",
		"deployment/dev-api: to be restarted", "secret/piyasa-secrets: ") {
		t.Errorf("diff (%v):\n%s", err, stdout)
	}
	// The plan keeps the running images in what diff compares, as deploy does.
	if !strings.Contains(stdout, "image: "+imgV2) || strings.Contains(stdout, "image: "+imgV1) {
		t.Errorf("diff compares other images than deploy applies:\n%s", stdout)
	}
}

func ptr[T any](v T) *T { return &v }

// TestDeployTerminatingNamespace: deploying into a namespace being deleted
// says so, not "Forbidden" with an RBAC hint (issue 16 #12).
func TestDeployTerminatingNamespace(t *testing.T) {
	env := writeEnv(t, t.TempDir(), ".env", "")
	now := metav1.Now()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: devNS, DeletionTimestamp: &now, Finalizers: []string{"kubernetes"}},
		Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}}
	tt := clitest.New(devNS, ns)
	fakeApply(tt, nil)
	err := run(tt, "--env-file", env)
	if code(err) != 1 || !strings.Contains(err.Error(), "is being deleted") {
		t.Fatalf("%v", err)
	}
	if _, gerr := tt.Fake.CoreV1().Secrets(devNS).Get(context.Background(), app.SecretName, metav1.GetOptions{}); !apierrors.IsNotFound(gerr) {
		t.Fatal("a Secret was created")
	}
	// The namespace starts terminating between the plan and the Secret.
	tt = clitest.New(devNS)
	fakeApply(tt, nil)
	term := apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, app.SecretName,
		errors.New("unable to create new content in namespace "+devNS+" because it is being terminated"))
	term.ErrStatus.Details.Causes = []metav1.StatusCause{{Type: corev1.NamespaceTerminatingCause}}
	failOn(tt, "create", "secrets", 0, term)
	err = run(tt, "--env-file", env)
	e := cli_error(err)
	if e == nil || e.Code != 1 || !strings.Contains(e.Msg, "is being deleted") || strings.Contains(e.Hint, "RBAC") || strings.Contains(e.Hint, "auth can-i") {
		t.Fatalf("%#v", err)
	}
}

// TestDeployInterrupted: Ctrl-C during the apply phase says how far it got
// and how to finish (issue 16 #18).
func TestDeployInterrupted(t *testing.T) {
	env := writeEnv(t, t.TempDir(), ".env", "")
	tt := clitest.New(devNS, liveApp(imgV1)...)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	fakeApply(tt, func(n int32) {
		if n == 3 {
			cancel()
		}
	})
	root := NewCmd(tt.Global)
	root.SetArgs([]string{"--env-file", env})
	err := root.ExecuteContext(ctx)
	e := cli_error(err)
	if e == nil || e.Code != 130 || !strings.Contains(e.Msg, "interrupted after applying 4 of ") || !strings.Contains(e.Hint, "run the same deploy again") {
		t.Fatalf("%#v", err)
	}
}

// TestStatusExitCodes: not ready is exit 1, with 0 replicas not ready
// (issue 16 #1); the JSON entries have component, kind and workload.
func TestStatusExitCodes(t *testing.T) {
	cases := []struct {
		name  string
		objs  func() []runtime.Object
		code  int
		ready bool
		why   string
	}{
		{"ready", func() []runtime.Object { return liveApp(imgV1) }, 0, true, ""},
		{"namespace missing", func() []runtime.Object { return nil }, 1, false, "not deployed"},
		{"postgres at 0 replicas", func() []runtime.Object {
			objs := liveApp(imgV1)
			for i, o := range objs {
				if w, ok := o.(interface{ GetName() string }); ok && w.GetName() == "dev-postgres" {
					objs[i] = workload("dev-postgres", component(app.Postgres), "postgres:16-alpine", 0)
				}
			}
			return objs
		}, 1, false, "postgres (0 replicas"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tt := clitest.New(devNS, c.objs()...)
			err := run(tt, "status", "-o", "json")
			stdout, _ := tt.Output()
			if got := code(err); got != c.code {
				t.Fatalf("exit %d, want %d: %v\n%s", got, c.code, err, stdout)
			}
			if c.why != "" && !strings.Contains(err.Error(), c.why) {
				t.Errorf("%v, want %q", err, c.why)
			}
			var doc struct {
				Ready      bool
				Components []map[string]any
			}
			if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
				t.Fatal(err)
			}
			if doc.Ready != c.ready || len(doc.Components) != 5 {
				t.Fatalf("ready %v, want %v: %s", doc.Ready, c.ready, stdout)
			}
			for _, comp := range doc.Components {
				if comp["component"] == "" || comp["kind"] == nil || !strings.HasPrefix(comp["workload"].(string), "dev-") {
					t.Errorf("entry %v lacks component/kind/workload", comp)
				}
				if _, old := comp["name"]; old {
					t.Errorf("entry %v still has name", comp)
				}
			}
		})
	}
	// workers at 3 of 5 ready
	objs := liveApp(imgV1)
	tt := clitest.New(devNS, objs...)
	s := getSTS(t, tt, "dev-worker")
	five := int32(5)
	s.Spec.Replicas = &five
	s.Status.Replicas, s.Status.ReadyReplicas, s.Status.UpdatedReplicas, s.Status.AvailableReplicas = 5, 3, 5, 3
	if _, err := tt.Fake.AppsV1().StatefulSets(devNS).Update(context.Background(), s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	err := run(tt, "status")
	if code(err) != 1 || !strings.Contains(err.Error(), "worker (") {
		t.Fatalf("workers 3/5: %v", err)
	}
}

// TestDelete: a missing namespace is not "kept" (issue 16 #19); with
// --delete-data the namespace is waited for, or said to be still going (#12).
func TestDelete(t *testing.T) {
	tt := clitest.New("nope")
	err := run(tt, "delete", "--yes")
	stdout, _ := tt.Output()
	if code(err) != 1 || !strings.Contains(err.Error(), "namespace nope does not exist") || strings.Contains(stdout, "kept") {
		t.Fatalf("%v\n%s", err, stdout)
	}

	tt = clitest.New(devNS, liveApp(imgV1)...)
	if err := run(tt, "delete", "--yes", "--delete-data"); err != nil {
		t.Fatal(err)
	}
	stdout, _ = tt.Output()
	if !strings.Contains(stdout, "namespace/"+devNS+" deleted") {
		t.Fatalf("%s", stdout)
	}

	tt = clitest.New(devNS, liveApp(imgV1)...)
	// The namespace stays (Terminating) longer than --timeout.
	tt.Fake.PrependReactor("delete", "namespaces", func(clienttesting.Action) (bool, runtime.Object, error) { return true, nil, nil })
	err = run(tt, "delete", "--yes", "--delete-data", "--timeout", "100ms")
	if code(err) != 1 || !strings.Contains(err.Error(), "is still being deleted after 100ms") {
		t.Fatalf("%v", err)
	}
	tt = clitest.New(devNS, liveApp(imgV1)...)
	tt.Fake.PrependReactor("delete", "namespaces", func(clienttesting.Action) (bool, runtime.Object, error) { return true, nil, nil })
	if err := run(tt, "delete", "--yes", "--delete-data", "--wait=false"); err != nil {
		t.Fatal(err)
	}
	if stdout, _ := tt.Output(); !strings.Contains(stdout, "is being deleted (not waited for)") {
		t.Fatalf("%s", stdout)
	}
}

// TestDeployForbiddenSecretReadNamesTheRight: a Secret read refused by RBAC
// gives the missing right, as every other refusal does.
func TestDeployForbiddenSecretReadNamesTheRight(t *testing.T) {
	env := writeEnv(t, t.TempDir(), ".env", "")
	tt := clitest.New(devNS, liveApp(imgV1)...)
	fakeApply(tt, nil)
	failOn(tt, "get", "secrets", 0, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, app.SecretName,
		errors.New(`User "v" cannot get resource "secrets" in API group "" in the namespace "`+devNS+`"`)))
	err := run(tt, "--env-file", env)
	e := cli.Classify(err, "")
	if e.Code != 3 || !strings.Contains(e.Hint, "missing RBAC right: get secrets") {
		t.Fatalf("%#v", e)
	}
}

// TestRootAddsItsRooms: access, tls renew and cleanup, packages of their own,
// keep their command paths and flags under kubectl-piyasa-deploy.
func TestRootAddsItsRooms(t *testing.T) {
	root := NewCmd(clitest.New(devNS).Global)
	for path, flags := range map[string][]string{
		"access":    {"address", "api-port", "frontend-port", "port-forward"},
		"tls renew": {"timeout"},
		"cleanup":   {"older-than", "yes", "dry-run", "output"},
	} {
		c, rest, err := root.Find(strings.Fields(path))
		if err != nil || len(rest) != 0 || c == root || !strings.HasSuffix(c.CommandPath(), " "+path) {
			t.Errorf("%s: not a command of the deploy binary (%v)", path, err)
			continue
		}
		for _, f := range flags {
			if c.Flags().Lookup(f) == nil {
				t.Errorf("%s lacks --%s", path, f)
			}
		}
	}
}
