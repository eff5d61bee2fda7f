package diagnose

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	k8stesting "k8s.io/client-go/testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/bundle"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

const testNS = "piyasa-chatbot-dev"

// devObjects is a small dev app: the worker StatefulSet and its ConfigMap.
func devObjects() []runtime.Object {
	two := int32(2)
	w, _ := app.LookupComponent(app.Worker)
	return []runtime.Object{
		&appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "dev-worker", Namespace: testNS},
			Spec: appsv1.StatefulSetSpec{Replicas: &two, Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: w.Labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "worker", Image: "ghcr.io/x/api:v1"}}}}},
			Status: appsv1.StatefulSetStatus{Replicas: 2, ReadyReplicas: 2}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dev-piyasa-config", Namespace: testNS}, Data: map[string]string{app.KeyTotalWorkers: "2"}},
	}
}

// run runs kubectl-piyasa-diagnose with args on tt and returns the exit code.
func run(tt *clitest.T, args ...string) int {
	return cli.Execute(NewCmd(tt.Global), tt.Global, args)
}

// The logs and top commands (packages of their own) are subcommands of the
// diagnose root: a bad command line of each reaches its Validate (exit 2).
func TestLogsAndTopAreSubcommands(t *testing.T) {
	if code := run(clitest.New(testNS), "logs", "nope"); code != cli.ExitUsage {
		t.Errorf("diagnose logs nope: exit %d", code)
	}
	if code := run(clitest.New(testNS), "top", "-o", "xml"); code != cli.ExitUsage {
		t.Errorf("diagnose top -o xml: exit %d", code)
	}
}

// TestMostlyForbiddenExits3 (issue 16 #2): a run that may read almost nothing
// says so and exits 3, not "No problems found", 100/100 and 0.
func TestMostlyForbiddenExits3(t *testing.T) {
	tt := clitest.New(testNS, devObjects()...)
	tt.Fake.PrependReactor("list", "*", func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetResource().Resource == "statefulsets" {
			return false, nil, nil
		}
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: a.GetResource().Resource}, "", nil)
	})
	code := run(tt)
	out, errOut := tt.Output()
	if code != cli.ExitCluster {
		t.Errorf("exit %d, want 3\n%s\n%s", code, out, errOut)
	}
	if strings.Contains(out, "No problems found") || strings.Contains(out, "score 100/100") || !strings.Contains(out, "Most checks could not run") {
		t.Errorf("table:\n%s", out)
	}
	if !strings.Contains(errOut, "checks could not run: you may not list") || !strings.Contains(errOut, "hint: ") {
		t.Errorf("stderr:\n%s", errOut)
	}
}

// TestFewForbiddenStillRuns: one forbidden kind skips its checks but the run's verdict stands.
func TestFewForbiddenStillRuns(t *testing.T) {
	tt := clitest.New(testNS, devObjects()...)
	tt.Fake.PrependReactor("list", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", nil)
	})
	if code := run(tt, "--only", "workers,references"); code != cli.ExitOK && code != cli.ExitFailed {
		t.Errorf("exit %d", code)
	}
	if out, _ := tt.Output(); !strings.Contains(out, "(forbidden: list secrets)") {
		t.Errorf("table:\n%s", out)
	}
}

// TestNoCheckSelectedExits2 (issue 16 #2): --only X --skip X runs nothing: exit 2, no request sent.
func TestNoCheckSelectedExits2(t *testing.T) {
	tt := clitest.New(testNS, devObjects()...)
	if code := run(tt, "--only", "PIY401", "--skip", "PIY401"); code != cli.ExitUsage {
		t.Errorf("exit %d, want 2", code)
	}
	if _, e := tt.Output(); !strings.Contains(e, "no check is selected") {
		t.Errorf("stderr: %s", e)
	}
	if n := len(tt.Fake.Actions()); n != 0 {
		t.Errorf("%d requests before the flags were checked", n)
	}
}

// TestInputErrorsBeforeAnyRequest: a bad --env-file or flag exits 2 before the cluster is asked.
func TestInputErrorsBeforeAnyRequest(t *testing.T) {
	for name, args := range map[string][]string{
		"env-file":   {"--env-file", filepath.Join(t.TempDir(), "missing.env")},
		"fail-on":    {"--fail-on", "info"},
		"only":       {"--only", "PIY999"},
		"chunk-size": {"--chunk-size", "0"},
		"bundle -f":  {"bundle", "-f", "/nonexistent/dir/x.tar.gz"},
	} {
		tt := clitest.New(testNS, devObjects()...)
		if code := run(tt, args...); code != cli.ExitUsage {
			t.Errorf("%s: exit %d, want 2", name, code)
		}
		if n := len(tt.Fake.Actions()); n != 0 {
			t.Errorf("%s: %d requests before the input was checked", name, n)
		}
	}
}

// TestContextErrorIsNotAFinding (issue 16 #3): --context nope is a
// configuration error returned as such, not exit 1 "found problems".
func TestContextErrorIsNotAFinding(t *testing.T) {
	kc := filepath.Join(t.TempDir(), "config")
	if err := os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: \"https://127.0.0.1:1\"}\n"+
		"users:\n- name: u\n  user: {token: t}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	streams, _, out, _ := genericiooptions.NewTestIOStreams()
	g := cli.NewGlobal(streams)
	cmd := NewCmd(g)
	cmd.SetArgs([]string{"--kubeconfig", kc, "--context", "nope", "-n", testNS})
	err := cmd.ExecuteContext(t.Context())
	// the kubeconfig's own error, for cli.Classify to give its exit code and hint
	var e *cli.Error
	if err == nil || errors.As(err, &e) || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("error %v (%T), want the kubeconfig's context error itself", err, err)
	}
	if out.Len() != 0 {
		t.Errorf("a report was printed: %s", out)
	}
	if code := cli.Classify(err, "").Code; code == cli.ExitOK {
		t.Errorf("classified as exit %d", code)
	}
}

// TestMinSeverityHiddenSaid (issue 16 #4): hidden findings are counted in the summary line.
func TestMinSeverityHiddenSaid(t *testing.T) {
	s := healthySnapshot()
	s.ConfigMaps["dev-piyasa-config"][app.KeyTotalWorkers] = "5" // an error
	s.NetworkPolicies = nil                                      // a warning
	s.Nodes = s.Nodes[:1]                                        // a warning
	rep := Analyze(t.Context(), s, Config{MinSeverity: SeverityError}, nil, nil)
	line := rep.SummaryLine()
	if !strings.HasPrefix(line, "1 errors, 0 warnings (2 warnings hidden by --min-severity)") {
		t.Errorf("summary line: %s", line)
	}
	if rep.Summary.HiddenWarnings != 2 {
		t.Errorf("summary %+v", rep.Summary)
	}
}

// TestJUnitTimeAndSkipped (issue 16 #19): every testcase has a time, and
// checks left out with --skip are <skipped/>, not dropped.
func TestJUnitTimeAndSkipped(t *testing.T) {
	rep := Analyze(t.Context(), healthySnapshot(), Config{Skip: CodeSet{"PIY401": true}}, nil, nil)
	var b bytes.Buffer
	if err := PrintJUnit(&b, rep); err != nil {
		t.Fatal(err)
	}
	x := b.String()
	if strings.Count(x, "<testcase ") != strings.Count(x, `<testcase classname=`) || strings.Count(x, ` time="`) < strings.Count(x, "<testcase ")+1 {
		t.Errorf("testcases without time:\n%s", x)
	}
	i := strings.Index(x, `name="PIY401 `)
	if i < 0 || !strings.Contains(x[i:i+300], `<skipped message="not selected: --skip">`) {
		t.Errorf("PIY401 not skipped:\n%s", x)
	}
}

// TestBundle (issue 16 #19): -f - writes the tar.gz to stdout; an unwritable
// -f names the user's path, never an internal temporary file.
func TestBundle(t *testing.T) {
	tt := clitest.New(testNS, append(devObjects(), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "piyasa-secrets", Namespace: testNS},
		Data: map[string][]byte{"API_KEY": []byte("planted-unit-secret-value")}})...)
	if code := run(tt, "bundle", "-f", "-"); code != cli.ExitOK {
		_, e := tt.Output()
		t.Fatalf("exit %d: %s", code, e)
	}
	files, err := bundle.Read(bytes.NewReader(tt.Stdout.Bytes()))
	if err != nil {
		t.Fatalf("stdout is not a bundle: %v", err)
	}
	names := map[string]bool{}
	for _, f := range files {
		if bytes.Contains(f.Data, []byte("planted-unit-secret-value")) {
			t.Errorf("%s holds the Secret value", f.Header.Name)
		}
		names[filepath.Base(f.Header.Name)] = true
	}
	if !names["report.json"] || !names["report.txt"] {
		t.Errorf("bundle files: %v", names)
	}

	tt = clitest.New(testNS, devObjects()...)
	bad := "/nonexistent/dir/x.tar.gz"
	if code := run(tt, "bundle", "-f", bad); code != cli.ExitUsage {
		t.Errorf("exit %d", code)
	}
	if _, e := tt.Output(); !strings.Contains(e, bad) || strings.Contains(e, ".piyasa-bundle-") {
		t.Errorf("stderr: %s", e)
	}
}
