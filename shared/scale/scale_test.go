package scale

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	k8stesting "k8s.io/client-go/testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

const testNS = "ns1"

// run runs `kubectl-piyasa-scale args...` built with NewCmd on tt's fake
// clients and returns the exit code.
func run(tt *clitest.T, args ...string) int {
	return cli.Execute(NewCmd(tt.Global), tt.Global, append([]string{"--env", "dev", "-n", testNS}, args...))
}

// fixture is the dev overlay's scalable objects: api (1 replica, an HPA
// 1-10), worker (2 replicas, TOTAL_WORKERS=2) and postgres. readyWorkers is
// the StatefulSet's status: the fake has no controller, so a wait for N
// workers succeeds only when the status already says N.
func fixture(readyWorkers int32, extra ...runtime.Object) []runtime.Object {
	worker, _ := app.LookupComponent(app.Worker)
	api, _ := app.LookupComponent(app.API)
	objs := []runtime.Object{
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: dev.ConfigMap(), Namespace: testNS, ResourceVersion: "10"},
			Data: map[string]string{app.KeyTotalWorkers: "2", "LOG_LEVEL": "INFO"}},
		&appsv1.StatefulSet{
			ObjectMeta: metav1.ObjectMeta{Name: "dev-worker", Namespace: testNS, Generation: 1, ResourceVersion: "20"},
			Spec: appsv1.StatefulSetSpec{Replicas: i32(2), Selector: &metav1.LabelSelector{MatchLabels: worker.Labels},
				UpdateStrategy: appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType}},
			Status: appsv1.StatefulSetStatus{ObservedGeneration: 1, Replicas: readyWorkers, ReadyReplicas: readyWorkers, AvailableReplicas: readyWorkers,
				UpdatedReplicas: readyWorkers, CurrentReplicas: readyWorkers, CurrentRevision: "r1", UpdateRevision: "r1"},
		},
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "dev-api", Namespace: testNS, Generation: 1, ResourceVersion: "30"},
			Spec:       appsv1.DeploymentSpec{Replicas: i32(1), Selector: &metav1.LabelSelector{MatchLabels: api.Labels}},
			Status:     appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, ReadyReplicas: 1, UpdatedReplicas: 1, AvailableReplicas: 1},
		},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "dev-postgres", Namespace: testNS}, Spec: appsv1.DeploymentSpec{Replicas: i32(0)}},
	}
	return append(objs, extra...)
}

func apiHPA(name string, min, max int32) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, ResourceVersion: "40"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "dev-api"},
			MinReplicas:    i32(min), MaxReplicas: max,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: i32(70)}}}},
		},
	}
}

func workerHPA() *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "dev-worker-hpa", Namespace: testNS},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "StatefulSet", Name: "dev-worker"},
			MinReplicas:    i32(2), MaxReplicas: 10,
		},
	}
}

// workers returns TOTAL_WORKERS, the StatefulSet's replicas, its restartedAt
// template annotation and the lock annotation as the fake holds them.
func workers(t *testing.T, tt *clitest.T) (total string, replicas int32, restartedAt, lock string) {
	t.Helper()
	ctx := context.Background()
	cm, err := tt.Fake.CoreV1().ConfigMaps(testNS).Get(ctx, dev.ConfigMap(), metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sts, err := tt.Fake.AppsV1().StatefulSets(testNS).Get(ctx, "dev-worker", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return cm.Data[app.KeyTotalWorkers], *sts.Spec.Replicas, sts.Spec.Template.Annotations[kube.RestartedAtAnnotation], cm.Annotations[LockAnnotation]
}

// writes lists the mutating requests the command sent (events aside).
func writes(tt *clitest.T) []string {
	var out []string
	for _, a := range tt.Fake.Actions() {
		switch a.GetVerb() {
		case "get", "list", "watch":
			continue
		}
		if a.GetResource().Resource == "events" {
			continue
		}
		out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
	}
	return out
}

func forbidden(resource string) error {
	return apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: resource}, "dev-worker", errForbidden)
}

var errForbidden = &cli.Error{Msg: `User "half-scaler" cannot patch resource`}

func conflict(resource, name string) error {
	return apierrors.NewConflict(schema.GroupResource{Resource: resource}, name, errConflict)
}

var errConflict = &cli.Error{Msg: "the object has been modified; please apply your changes to the latest version and try again"}

// failOn makes the fake answer every verb request on resource with err.
func failOn(tt *clitest.T, verb, resource string, err error) {
	tt.Fake.PrependReactor(verb, resource, func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, err })
}

func checkExit(t *testing.T, tt *clitest.T, code, want int, stderrHas ...string) {
	t.Helper()
	_, stderr := tt.Output()
	if code != want {
		t.Errorf("exit %d, want %d; stderr:\n%s", code, want, stderr)
	}
	for _, s := range stderrHas {
		if !strings.Contains(stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, stderr)
		}
	}
	if strings.Contains(stderr, "Operation cannot be fulfilled") {
		t.Errorf("stderr shows the raw API conflict text:\n%s", stderr)
	}
}

// Bad input is refused (exit 2) before any request to the cluster.
func TestInputCheckedBeforeAnyRequest(t *testing.T) {
	cases := []struct {
		args []string
		want []string
	}{
		{[]string{"api", "-1"}, []string{"invalid replica count -1"}},
		{[]string{"api", "abc"}, []string{`invalid replica count "abc"`}},
		{[]string{"worker", "99999999999"}, []string{"99999999999: too big", "2147483647"}},
		{[]string{"worker", "-99999999999"}, []string{"use a whole number >= 0"}},
		{[]string{"worker", "0"}, []string{"run at least 1 worker"}},
		{[]string{"chatbot", "3"}, []string{`unknown component "chatbot"`}},
		// postgres is never scaled by the suite, but the hint brings it back from 0.
		{[]string{"postgres", "1"}, []string{"postgres cannot be scaled", "hint: if postgres is at 0 replicas, bring it back with: kubectl scale deployment/dev-postgres --replicas=1 -n ns1"}},
		{[]string{"api"}, []string{"expected COMPONENT REPLICAS"}},
		{[]string{"api", "3", "--timeout", "-1s"}, []string{"invalid --timeout"}},
		{[]string{"api", "3", "--dry-run=maybe"}, []string{`invalid --dry-run value "maybe"`}},
		{[]string{"hpa", "api"}, []string{"nothing to change"}},
		{[]string{"hpa", "api", "--min", "5", "--max", "2"}, []string{"--min 5 is above --max 2"}},
		{[]string{"hpa", "api", "--cpu", "101"}, []string{"invalid --cpu 101"}},
		{[]string{"hpa", "worker", "--max", "4"}, []string{"never autoscaled", "hint: scale the workers with: kubectl piyasa scale worker N -n ns1 --env dev"}},
		{[]string{"hpa", "postgres", "--max", "4"}, []string{"postgres cannot be scaled"}},
		{[]string{"status", "-o", "xml"}, []string{`unknown output format "xml"`}},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			tt := clitest.New("", fixture(2)...)
			code := run(tt, c.args...)
			checkExit(t, tt, code, cli.ExitUsage, c.want...)
			if a := tt.Fake.Actions(); len(a) != 0 {
				t.Errorf("bad input sent %d request(s) first: %v", len(a), a)
			}
			if _, stderr := tt.Output(); strings.Contains(stderr, "DESIGN") || strings.Contains(stderr, "trap") {
				t.Errorf("message cites a document that does not exist: %s", stderr)
			}
		})
	}
}

// A bare --dry-run means client, as in kubectl, with its deprecation warning,
// and does not take the next argument: -n ns1 stays the namespace.
func TestBareDryRunIsClient(t *testing.T) {
	tt := clitest.New("", fixture(2)...)
	code := cli.Execute(NewCmd(tt.Global), tt.Global, []string{"api", "3", "--dry-run", "-n", testNS, "--env", "dev"})
	stdout, stderr := tt.Output()
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "deployment/dev-api scaled: 1 -> 3 replicas (dry run)") {
		t.Errorf("stdout %q", stdout)
	}
	if !strings.Contains(stderr, "--dry-run is deprecated and can be replaced with --dry-run=client") {
		t.Errorf("no deprecation warning: %q", stderr)
	}
	if tt.Namespace != testNS {
		t.Errorf("namespace %q: -n was eaten by --dry-run", tt.Namespace)
	}
	if w := writes(tt); len(w) != 0 {
		t.Errorf("client dry run sent %v", w)
	}
}

// --dry-run=server sends the patches as dry-run requests and says so.
func TestServerDryRunWorker(t *testing.T) {
	tt := clitest.New("", fixture(2)...)
	code := run(tt, "worker", "3", "--dry-run=server")
	checkExit(t, tt, code, 0)
	var n int
	for _, a := range tt.Fake.Actions() {
		if p, ok := a.(k8stesting.PatchAction); ok {
			n++
			if opts := p.(k8stesting.PatchActionImpl).PatchOptions; len(opts.DryRun) != 1 || opts.DryRun[0] != metav1.DryRunAll {
				t.Errorf("patch %s without dryRun=All: %v", p.GetResource().Resource, opts.DryRun)
			}
		}
	}
	if n != 2 {
		t.Errorf("%d patches, want the ConfigMap's and the StatefulSet's", n)
	}
	if stdout, _ := tt.Output(); !strings.Contains(stdout, "(server dry run)") {
		t.Errorf("stdout %q", stdout)
	}
}

func TestScaleWorker(t *testing.T) {
	t.Run("success", func(t *testing.T) {
		tt := clitest.New("", fixture(3)...)
		code := run(tt, "worker", "3")
		checkExit(t, tt, code, 0)
		total, replicas, restarted, lock := workers(t, tt)
		if total != "3" || replicas != 3 || restarted != clitest.Fixed.Format(time.RFC3339) {
			t.Errorf("TOTAL_WORKERS=%s replicas=%d restartedAt=%q", total, replicas, restarted)
		}
		if lock != "" {
			t.Errorf("lock left on the ConfigMap: %s", lock)
		}
		if stdout, _ := tt.Output(); !strings.Contains(stdout, "2 -> 3 replicas, TOTAL_WORKERS 2 -> 3") || !strings.Contains(stdout, "statefulset/dev-worker: 3/3 ready") {
			t.Errorf("stdout %q", stdout)
		}
	})
	t.Run("client dry run changes nothing", func(t *testing.T) {
		tt := clitest.New("", fixture(2)...)
		checkExit(t, tt, run(tt, "worker", "3", "--dry-run=client"), 0)
		if w := writes(tt); len(w) != 0 {
			t.Errorf("sent %v", w)
		}
	})
	t.Run("StatefulSet patch forbidden: TOTAL_WORKERS put back", func(t *testing.T) {
		tt := clitest.New("", fixture(2)...)
		failOn(tt, "patch", "statefulsets", forbidden("statefulsets"))
		code := run(tt, "worker", "4")
		checkExit(t, tt, code, cli.ExitCluster, "rolled back: TOTAL_WORKERS is 2 again, replicas stay 2", "forbidden", "kubectl auth can-i patch statefulsets -n ns1")
		total, replicas, restarted, lock := workers(t, tt)
		if total != "2" || replicas != 2 || restarted != "" || lock != "" {
			t.Errorf("not rolled back: TOTAL_WORKERS=%s replicas=%d restartedAt=%q lock=%q", total, replicas, restarted, lock)
		}
	})
	t.Run("StatefulSet patch forbidden and the ConfigMap rollback fails", func(t *testing.T) {
		tt := clitest.New("", fixture(2)...)
		failOn(tt, "patch", "statefulsets", forbidden("statefulsets"))
		var cmPatches atomic.Int32
		tt.Fake.PrependReactor("patch", "configmaps", func(k8stesting.Action) (bool, runtime.Object, error) {
			if cmPatches.Add(1) == 1 {
				return false, nil, nil // the first (TOTAL_WORKERS) goes through
			}
			return true, nil, forbidden("configmaps")
		})
		code := run(tt, "worker", "4")
		checkExit(t, tt, code, cli.ExitCluster, "putting TOTAL_WORKERS back to 2 ALSO failed", `kubectl patch configmap dev-piyasa-config -n ns1 --type merge -p '{"data":{"TOTAL_WORKERS":"2"}}'`)
	})
	t.Run("StatefulSet changed at the same time (Conflict): TOTAL_WORKERS put back", func(t *testing.T) {
		tt := clitest.New("", fixture(2)...)
		failOn(tt, "patch", "statefulsets", conflict("statefulsets", "dev-worker"))
		code := run(tt, "worker", "4")
		checkExit(t, tt, code, cli.ExitFailed, "another command changed statefulset/dev-worker at the same time", "rolled back: TOTAL_WORKERS is 2 again")
		if total, replicas, _, lock := workers(t, tt); total != "2" || replicas != 2 || lock != "" {
			t.Errorf("TOTAL_WORKERS=%s replicas=%d lock=%q", total, replicas, lock)
		}
	})
	t.Run("a Conflict from a status write (same generation) is retried", func(t *testing.T) {
		tt := clitest.New("", fixture(3)...)
		var stsPatches atomic.Int32
		tt.Fake.PrependReactor("patch", "statefulsets", func(k8stesting.Action) (bool, runtime.Object, error) {
			if stsPatches.Add(1) == 1 {
				return true, nil, conflict("statefulsets", "dev-worker")
			}
			return false, nil, nil
		})
		checkExit(t, tt, run(tt, "worker", "3"), 0)
		if total, replicas, _, _ := workers(t, tt); total != "3" || replicas != 3 || stsPatches.Load() != 2 {
			t.Errorf("TOTAL_WORKERS=%s replicas=%d after %d patches", total, replicas, stsPatches.Load())
		}
	})
	t.Run("a Conflict from a spec change (new generation) is not retried", func(t *testing.T) {
		tt := clitest.New("", fixture(3)...)
		var stsPatches atomic.Int32
		tt.Fake.PrependReactor("patch", "statefulsets", func(a k8stesting.Action) (bool, runtime.Object, error) {
			stsPatches.Add(1)
			obj, _ := tt.Fake.Tracker().Get(a.GetResource(), testNS, "dev-worker")
			sts := obj.(*appsv1.StatefulSet).DeepCopy()
			sts.Generation = 2 // someone else changed the spec
			_ = tt.Fake.Tracker().Update(a.GetResource(), sts, testNS)
			return true, nil, conflict("statefulsets", "dev-worker")
		})
		checkExit(t, tt, run(tt, "worker", "3"), cli.ExitFailed, "another command changed statefulset/dev-worker at the same time", "rolled back: TOTAL_WORKERS is 2 again")
		if stsPatches.Load() != 1 {
			t.Errorf("%d patches, want 1", stsPatches.Load())
		}
	})
	t.Run("wait fails: everything put back", func(t *testing.T) {
		tt := clitest.New("", fixture(2)...) // the status stays at 2: the wait for 5 times out
		code := run(tt, "worker", "5", "--timeout", "300ms")
		checkExit(t, tt, code, cli.ExitFailed, "timed out", "rolled back: TOTAL_WORKERS is 2 again and statefulset/dev-worker is back to 2 replicas")
		total, replicas, restarted, lock := workers(t, tt)
		if total != "2" || replicas != 2 || restarted != "" || lock != "" {
			t.Errorf("not rolled back: TOTAL_WORKERS=%s replicas=%d restartedAt=%q lock=%q", total, replicas, restarted, lock)
		}
	})
	t.Run("wait fails and the rollback is forbidden", func(t *testing.T) {
		tt := clitest.New("", fixture(2)...)
		var stsPatches atomic.Int32
		tt.Fake.PrependReactor("patch", "statefulsets", func(k8stesting.Action) (bool, runtime.Object, error) {
			if stsPatches.Add(1) == 1 {
				return false, nil, nil
			}
			return true, nil, forbidden("statefulsets")
		})
		code := run(tt, "worker", "5", "--timeout", "300ms")
		checkExit(t, tt, code, cli.ExitFailed, "rolling back ALSO failed", "set TOTAL_WORKERS=2 in configmap/dev-piyasa-config and 2 replicas by hand")
	})
}

// Two scale worker at once: the one that comes second fails with a clear
// message and changes nothing; a change by someone else during the wait is
// reported, never an exit 0 for a count that was not reached.
func TestScaleWorkerConcurrent(t *testing.T) {
	t.Run("ConfigMap changed between read and write (Conflict)", func(t *testing.T) {
		tt := clitest.New("", fixture(2)...)
		failOn(tt, "patch", "configmaps", conflict("configmaps", dev.ConfigMap()))
		code := run(tt, "worker", "7")
		checkExit(t, tt, code, cli.ExitFailed, "another command changed configmap/dev-piyasa-config at the same time", "nothing was changed", "kubectl piyasa scale status -n ns1")
		if w := writes(tt); len(w) != 1 { // only the refused ConfigMap patch
			t.Errorf("writes %v", w)
		}
		if total, replicas, _, _ := workers(t, tt); total != "2" || replicas != 2 {
			t.Errorf("TOTAL_WORKERS=%s replicas=%d", total, replicas)
		}
	})
	t.Run("another scale holds the lock", func(t *testing.T) {
		objs := fixture(2)
		cm := objs[0].(*corev1.ConfigMap)
		cm.Annotations = map[string]string{LockAnnotation: string(mustJSON(workerLock{Holder: "laptop/123/ab", Expires: clitest.Fixed.Add(3 * time.Minute)}))}
		cm.Data[app.KeyTotalWorkers] = "5"
		tt := clitest.New("", objs...)
		code := run(tt, "worker", "7", "--timeout", "300ms")
		checkExit(t, tt, code, cli.ExitFailed, "another scale worker (laptop/123/ab) is changing the workers", "nothing was changed",
			"kubectl annotate configmap dev-piyasa-config piyasa.io/scale-worker-lock- -n ns1")
		if w := writes(tt); len(w) != 0 {
			t.Errorf("writes %v", w)
		}
	})
	t.Run("an expired lock is taken over", func(t *testing.T) {
		objs := fixture(3)
		cm := objs[0].(*corev1.ConfigMap)
		cm.Annotations = map[string]string{LockAnnotation: string(mustJSON(workerLock{Holder: "killed/1/00", Expires: clitest.Fixed.Add(-time.Second)}))}
		tt := clitest.New("", objs...)
		checkExit(t, tt, run(tt, "worker", "3"), 0)
		if total, replicas, _, lock := workers(t, tt); total != "3" || replicas != 3 || lock != "" {
			t.Errorf("TOTAL_WORKERS=%s replicas=%d lock=%q", total, replicas, lock)
		}
	})
	t.Run("the lock is taken in the TOTAL_WORKERS patch, with its resourceVersion", func(t *testing.T) {
		tt := clitest.New("", fixture(3)...)
		var patch map[string]any
		tt.Fake.PrependReactor("patch", "configmaps", func(a k8stesting.Action) (bool, runtime.Object, error) {
			if patch == nil {
				_ = json.Unmarshal(a.(k8stesting.PatchAction).GetPatch(), &patch)
			}
			return false, nil, nil
		})
		checkExit(t, tt, run(tt, "worker", "3"), 0)
		md, _ := patch["metadata"].(map[string]any)
		ann, _ := md["annotations"].(map[string]any)
		var l workerLock
		if s, _ := ann[LockAnnotation].(string); json.Unmarshal([]byte(s), &l) != nil || l.Holder == "" || !l.Expires.After(clitest.Fixed) {
			t.Errorf("lock in the patch: %v", ann)
		}
		if md["resourceVersion"] != "10" || patch["data"].(map[string]any)[app.KeyTotalWorkers] != "3" {
			t.Errorf("patch %v", patch)
		}
	})
	// ready is the StatefulSet's status: 7 lets the wait succeed (at the
	// count someone else set), 5 makes it time out.
	for _, c := range []struct {
		name  string
		ready int32
		want  string
	}{
		{"someone else changed the count during a wait that succeeded", 7, "while this command waited:"},
		{"someone else changed the count during a wait that failed", 5, "while this command waited (and the wait failed: timed out"},
	} {
		t.Run(c.name, func(t *testing.T) {
			tt := clitest.New("", fixture(c.ready)...)
			var gets atomic.Int32
			tt.Fake.PrependReactor("get", "statefulsets", func(a k8stesting.Action) (bool, runtime.Object, error) {
				if gets.Add(1) == 1 {
					return false, nil, nil
				}
				// After the wait: another scale (e.g. kubectl scale) set 5 replicas.
				obj, err := tt.Fake.Tracker().Get(a.GetResource(), testNS, "dev-worker")
				if err != nil {
					return true, nil, err
				}
				sts := obj.(*appsv1.StatefulSet).DeepCopy()
				sts.Spec.Replicas = i32(5)
				return true, sts, nil
			})
			code := run(tt, "worker", "7", "--timeout", "300ms")
			checkExit(t, tt, code, cli.ExitFailed, "another command changed the workers "+c.want, "has 5 replicas", "not the 7 asked for", "nothing was rolled back")
			if total, _, _, lock := workers(t, tt); total != "7" || lock != "" {
				t.Errorf("TOTAL_WORKERS=%s lock=%q: want no rollback and no lock left", total, lock)
			}
		})
	}
}

// Under a worker HPA, scale worker is refused, and its hint is a command that
// is accepted then (delete the HPA), never scale worker itself.
func TestWorkerHPAHints(t *testing.T) {
	for _, n := range []string{"4", "12"} { // inside and outside the HPA's 2-10
		t.Run(n, func(t *testing.T) {
			tt := clitest.New("", fixture(2, workerHPA())...)
			code := run(tt, "worker", n)
			checkExit(t, tt, code, cli.ExitUsage, "hint: delete the HPA first: kubectl delete hpa dev-worker-hpa -n ns1; then: kubectl piyasa scale worker "+n+" -n ns1 --env dev")
			_, stderr := tt.Output()
			hint := stderr[strings.Index(stderr, "hint:"):]
			if strings.HasPrefix(strings.TrimPrefix(hint, "hint: "), "scale the workers with") || strings.Contains(hint, "scale hpa") {
				t.Errorf("hint names a command refused in this state: %s", hint)
			}
			if w := writes(tt); len(w) != 0 {
				t.Errorf("writes %v", w)
			}
		})
	}
}

func TestScaleDeployment(t *testing.T) {
	t.Run("refused under an HPA, with scale hpa as the way", func(t *testing.T) {
		tt := clitest.New("", fixture(2, apiHPA("dev-api-hpa", 1, 10))...)
		checkExit(t, tt, run(tt, "api", "3"), cli.ExitUsage, "autoscaled by HPA dev-api-hpa", "kubectl piyasa scale hpa api --min N --max M -n ns1 --env dev")
	})
	t.Run("outside the HPA range even with --force", func(t *testing.T) {
		tt := clitest.New("", fixture(2, apiHPA("dev-api-hpa", 1, 10))...)
		checkExit(t, tt, run(tt, "api", "11", "--force"), cli.ExitUsage, "outside the range 1-10")
	})
	t.Run("--wait=false", func(t *testing.T) {
		tt := clitest.New("", fixture(2)...)
		checkExit(t, tt, run(tt, "api", "3", "--wait=false"), 0)
		d, _ := tt.Fake.AppsV1().Deployments(testNS).Get(context.Background(), "dev-api", metav1.GetOptions{})
		if *d.Spec.Replicas != 3 {
			t.Errorf("replicas %d", *d.Spec.Replicas)
		}
	})
	t.Run("forbidden", func(t *testing.T) {
		tt := clitest.New("", fixture(2)...)
		failOn(tt, "patch", "deployments", forbidden("deployments"))
		checkExit(t, tt, run(tt, "api", "3"), cli.ExitCluster, "forbidden")
	})
	t.Run("not deployed", func(t *testing.T) {
		tt := clitest.New("")
		checkExit(t, tt, run(tt, "frontend", "2"), cli.ExitFailed, "deployment/dev-frontend not found in namespace ns1", "kubectl piyasa deploy")
	})
}

func TestScaleHPA(t *testing.T) {
	hpa := func(tt *clitest.T) *autoscalingv2.HorizontalPodAutoscaler {
		h, err := tt.Fake.AutoscalingV2().HorizontalPodAutoscalers(testNS).Get(context.Background(), "dev-api-hpa", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	t.Run("changes range and targets", func(t *testing.T) {
		tt := clitest.New("", fixture(2, apiHPA("dev-api-hpa", 1, 10))...)
		checkExit(t, tt, run(tt, "hpa", "api", "--min", "2", "--max", "5", "--cpu", "60", "--memory", "75"), 0)
		h := hpa(tt)
		if *h.Spec.MinReplicas != 2 || h.Spec.MaxReplicas != 5 || *targetUtilization(h, corev1.ResourceCPU) != 60 || *targetUtilization(h, corev1.ResourceMemory) != 75 {
			t.Errorf("HPA %+v", h.Spec)
		}
		if stdout, _ := tt.Output(); !strings.Contains(stdout, "min 1 -> 2, max 10 -> 5, cpu target 70% -> 60%, memory target none -> 75%") {
			t.Errorf("stdout %q", stdout)
		}
	})
	t.Run("min above the HPA's max", func(t *testing.T) {
		tt := clitest.New("", fixture(2, apiHPA("dev-api-hpa", 1, 10))...)
		checkExit(t, tt, run(tt, "hpa", "api", "--min", "11"), cli.ExitUsage, "min 11 would be above max 10", "give both: --min 11 --max 11")
	})
	t.Run("dry run client", func(t *testing.T) {
		tt := clitest.New("", fixture(2, apiHPA("dev-api-hpa", 1, 10))...)
		checkExit(t, tt, run(tt, "hpa", "api", "--max", "4", "--dry-run=client"), 0)
		if h := hpa(tt); h.Spec.MaxReplicas != 10 || len(writes(tt)) != 0 {
			t.Errorf("changed: max %d, writes %v", h.Spec.MaxReplicas, writes(tt))
		}
	})
	t.Run("forbidden", func(t *testing.T) {
		tt := clitest.New("", fixture(2, apiHPA("dev-api-hpa", 1, 10))...)
		failOn(tt, "update", "horizontalpodautoscalers", apierrors.NewForbidden(schema.GroupResource{Group: "autoscaling", Resource: "horizontalpodautoscalers"}, "dev-api-hpa", errForbidden))
		checkExit(t, tt, run(tt, "hpa", "api", "--max", "4"), cli.ExitCluster, "forbidden")
		if h := hpa(tt); h.Spec.MaxReplicas != 10 {
			t.Errorf("max %d", h.Spec.MaxReplicas)
		}
	})
	t.Run("changed at the same time (Conflict)", func(t *testing.T) {
		tt := clitest.New("", fixture(2, apiHPA("dev-api-hpa", 1, 10))...)
		failOn(tt, "update", "horizontalpodautoscalers", conflict("horizontalpodautoscalers", "dev-api-hpa"))
		checkExit(t, tt, run(tt, "hpa", "api", "--max", "4"), cli.ExitFailed, "horizontalpodautoscaler/dev-api-hpa was changed by someone else", "nothing was changed", "run the command again")
	})
	t.Run("no HPA", func(t *testing.T) {
		tt := clitest.New("", fixture(2)...)
		checkExit(t, tt, run(tt, "hpa", "frontend", "--max", "4"), cli.ExitFailed, "no HorizontalPodAutoscaler targets deployment/dev-frontend", "kubectl piyasa deploy")
	})
}
