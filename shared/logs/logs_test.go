package logs

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	k8stesting "k8s.io/client-go/testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

const testNS = "piyasa-chatbot-dev"

// A planted Secret value: no output may hold it, raw or base64.
const plantedValue = "planted-logs-secret-51c2"

var t0 = time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)

// syncBuffer is a buffer a command's goroutines write while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// streamLogs serves container logs as a kubelet does: --tail, --since-time,
// timestamps, and with follow the lines appended later, until the stream's
// context ends or the log is closed.
type streamLogs struct {
	mu     sync.Mutex
	logs   map[string][]fakeLine // pod/container
	closed map[string]bool       // the stream of pod/container ends after what it has
	notify chan struct{}
	opens  []string // pod/container opts of each open
	err    map[string]error
}

type fakeLine struct {
	t   time.Time
	msg string
}

func newStreamLogs() *streamLogs {
	return &streamLogs{logs: map[string][]fakeLine{}, closed: map[string]bool{}, notify: make(chan struct{}), err: map[string]error{}}
}

func (f *streamLogs) add(pod, container string, t time.Time, msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := pod + "/" + container
	f.logs[k] = append(f.logs[k], fakeLine{t, msg})
	close(f.notify)
	f.notify = make(chan struct{})
}

// endStream makes the next read of pod/container's open streams end (a lost connection).
func (f *streamLogs) endStream(pod, container string, ended bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closed[pod+"/"+container] = ended
	close(f.notify)
	f.notify = make(chan struct{})
}

func (f *streamLogs) Opens() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.opens...)
}

func (f *streamLogs) open(ctx context.Context, pod string, o *corev1.PodLogOptions) (io.ReadCloser, error) {
	k := pod + "/" + o.Container
	f.mu.Lock()
	desc := k
	if o.TailLines != nil {
		desc += fmt.Sprintf(" tail=%d", *o.TailLines)
	}
	if o.SinceTime != nil {
		desc += " since=" + o.SinceTime.UTC().Format(time.RFC3339)
	}
	if o.Previous {
		desc += " previous"
	}
	f.opens = append(f.opens, desc)
	err := f.err[k]
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	pr, pw := io.Pipe()
	go func() {
		sent := 0
		first := true
		for {
			f.mu.Lock()
			lines := f.logs[k]
			ended := f.closed[k]
			ch := f.notify
			f.mu.Unlock()
			if first {
				first = false
				var keep []fakeLine
				for _, l := range lines {
					if o.SinceTime == nil || !l.t.Before(o.SinceTime.Time) {
						keep = append(keep, l)
					}
				}
				start := len(lines) - len(keep)
				if o.TailLines != nil && int(*o.TailLines) < len(keep) {
					start = len(lines) - int(*o.TailLines)
				}
				sent = start
			}
			for ; sent < len(lines); sent++ {
				l := lines[sent]
				text := l.msg + "\n"
				if o.Timestamps {
					text = l.t.Format(time.RFC3339Nano) + " " + text
				}
				if _, err := pw.Write([]byte(text)); err != nil {
					return
				}
			}
			if !o.Follow || ended {
				pw.Close()
				return
			}
			select {
			case <-ch:
			case <-ctx.Done():
				pw.CloseWithError(ctx.Err())
				return
			}
		}
	}()
	return pr, nil
}

func appSecret() *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: app.SecretName, Namespace: testNS},
		Data: map[string][]byte{app.KeyDatabasePassword: []byte(plantedValue), app.KeyDefaultAdminUsername: []byte("ab")}}
}

func runningPod(comp, name string, uid types.UID) *corev1.Pod {
	c, _ := app.LookupComponent(comp)
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, Labels: c.Labels, UID: uid},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: comp, EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: app.SecretName}}}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: comp,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(t0)}}}}}}
}

// logsOptions parses args as the command line of `diagnose logs` and
// completes and validates the options, which read logs from fl.
func logsOptions(tt *clitest.T, fl *streamLogs, args ...string) (*Options, error) {
	o := NewOptions(tt.Global)
	o.open = fl.open
	cmd := newCmd(o)
	if err := cmd.ParseFlags(args); err != nil {
		return nil, err
	}
	if err := o.Complete(cmd, cmd.Flags().Args()); err != nil {
		return nil, err
	}
	return o, o.Validate()
}

// exitOf is the exit code of a command's result, its message printed to stderr as the binary would.
func exitOf(tt *clitest.T, err error) int {
	if err == nil {
		return 0
	}
	return cli.PrintError(tt.Stderr, cli.Classify(err, ""))
}

// logsRun runs `diagnose logs args...` to its end and returns the exit code, stdout and stderr.
func logsRun(t *testing.T, tt *clitest.T, fl *streamLogs, args ...string) (int, string, string) {
	t.Helper()
	o, err := logsOptions(tt, fl, args...)
	if err == nil {
		err = o.Run(context.Background())
	}
	code := exitOf(tt, err)
	out, errOut := tt.Output()
	return code, out, errOut
}

func noSecret(t *testing.T, outs ...string) {
	t.Helper()
	for _, s := range outs {
		for _, form := range []string{plantedValue, base64.StdEncoding.EncodeToString([]byte(plantedValue))} {
			if strings.Contains(s, form) {
				t.Errorf("output holds the planted secret value (%s):\n%s", form, s)
			}
		}
	}
}

func TestLogsUsage(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "takes one component: api, worker, frontend, postgres, redis"},
		{[]string{"databse"}, `unknown component "databse": use one of api, worker, frontend, postgres, redis`},
		{[]string{"api", "--grep", "(unclosed"}, "--grep: error parsing regexp"},
		{[]string{"api", "-f", "--previous"}, "--previous and -f do not go together"},
		{[]string{"api", "-o", "yaml"}, `unknown output format "yaml": use -o text|json`},
		{[]string{"api", "--tail", "-5"}, "--tail must be -1"},
	} {
		tt := clitest.New(testNS)
		code, out, errOut := logsRun(t, tt, newStreamLogs(), c.args...)
		if code != cli.ExitUsage || !strings.Contains(errOut, c.want) || out != "" {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", c.args, code, errOut, c.want)
		}
	}
	// an unknown container is refused once the pods are known
	tt := clitest.New(testNS, runningPod(app.API, "dev-api-a", "a"), appSecret())
	code, _, errOut := logsRun(t, tt, newStreamLogs(), "api", "-c", "sidecar")
	if code != cli.ExitUsage || !strings.Contains(errOut, `the pods of api have no container "sidecar": use one of api`) {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

// Without -f: the lines of all pods merged in time order, each prefixed by
// its pod and container, Secret values masked, --grep on the masked line.
func TestLogsMergedAndMasked(t *testing.T) {
	tt := clitest.New(testNS, runningPod(app.API, "dev-api-a", "a"), runningPod(app.API, "dev-api-b", "b"),
		runningPod(app.Worker, "dev-worker-0", "w"), appSecret())
	fl := newStreamLogs()
	fl.add("dev-api-a", "api", t0.Add(1*time.Second), "a1 starting")
	fl.add("dev-api-b", "api", t0.Add(2*time.Second), "b1 connecting with password "+plantedValue)
	fl.add("dev-api-a", "api", t0.Add(3*time.Second), "a2 token "+base64.StdEncoding.EncodeToString([]byte(plantedValue)))
	fl.add("dev-api-b", "api", t0.Add(4*time.Second), "b2 ready ab")
	fl.add("dev-worker-0", "worker", t0, "not an api line")
	code, out, errOut := logsRun(t, tt, fl, "api")
	want := "dev-api-a api a1 starting\n" +
		"dev-api-b api b1 connecting with password REDACTED\n" +
		"dev-api-a api a2 token REDACTED\n" +
		"dev-api-b api b2 ready ab\n" // values under 4 characters are not masked
	if code != 0 || out != want {
		t.Errorf("exit %d\nstdout:\n%s\nwant:\n%s\nstderr:\n%s", code, out, want, errOut)
	}
	noSecret(t, out, errOut)
	opens := fl.Opens()
	sort.Strings(opens)
	if got := strings.Join(opens, ","); got != "dev-api-a/api tail=100,dev-api-b/api tail=100" {
		t.Errorf("opens %s", got)
	}

	// --grep matches the masked message: a secret cannot be found by grepping for it
	tt = clitest.New(testNS, runningPod(app.API, "dev-api-a", "a"), runningPod(app.API, "dev-api-b", "b"), appSecret())
	_, out, _ = logsRun(t, tt, fl, "api", "--grep", "planted|REDACTED$", "--tail", "-1", "--timestamps")
	want = "dev-api-b api " + t0.Add(2*time.Second).Format(time.RFC3339Nano) + " b1 connecting with password REDACTED\n" +
		"dev-api-a api " + t0.Add(3*time.Second).Format(time.RFC3339Nano) + " a2 token REDACTED\n"
	if out != want {
		t.Errorf("--grep:\n%s\nwant:\n%s", out, want)
	}

	// -o json: one object per line
	tt = clitest.New(testNS, runningPod(app.API, "dev-api-a", "a"), runningPod(app.API, "dev-api-b", "b"), appSecret())
	_, out, _ = logsRun(t, tt, fl, "api", "-o", "json", "--since", "90s")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 {
		t.Fatalf("json lines:\n%s", out)
	}
	var first jsonLogLine
	if err := json.Unmarshal([]byte(lines[1]), &first); err != nil {
		t.Fatal(err)
	}
	if first != (jsonLogLine{Pod: "dev-api-b", Container: "api", Time: "2026-12-01T02:00:02Z", Message: "b1 connecting with password REDACTED"}) {
		t.Errorf("json line %+v", first)
	}
	noSecret(t, out)
}

// Masking must not fail silently: without the right to read the Secret the
// command exits 3 before printing a line, unless --no-mask.
func TestLogsSecretForbidden(t *testing.T) {
	newTT := func() *clitest.T {
		tt := clitest.New(testNS, runningPod(app.API, "dev-api-a", "a"), appSecret())
		tt.Fake.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, app.SecretName, errors.New("no"))
		})
		return tt
	}
	fl := newStreamLogs()
	fl.add("dev-api-a", "api", t0, "password "+plantedValue)
	code, out, errOut := logsRun(t, newTT(), fl, "api")
	if code != cli.ExitCluster || out != "" || !strings.Contains(errOut, "cannot read Secret piyasa-secrets to mask its values") ||
		!strings.Contains(errOut, "hint: missing RBAC right: get secrets in namespace "+testNS) || !strings.Contains(errOut, "--no-mask") {
		t.Errorf("exit %d\nstdout %q\nstderr:\n%s", code, out, errOut)
	}
	code, out, errOut = logsRun(t, newTT(), fl, "api", "--no-mask")
	if code != 0 || !strings.Contains(out, plantedValue) || !strings.Contains(errOut, "warning: --no-mask") {
		t.Errorf("--no-mask: exit %d\n%s\n%s", code, out, errOut)
	}
}

// A container whose log cannot be read is a warning and exit 1, the others
// are printed; a missing right to read logs is exit 3; no pod is exit 1.
func TestLogsPartialAndForbidden(t *testing.T) {
	pending := runningPod(app.API, "dev-api-c", "c")
	pending.Status = corev1.PodStatus{Phase: corev1.PodPending}
	tt := clitest.New(testNS, runningPod(app.API, "dev-api-a", "a"), runningPod(app.API, "dev-api-b", "b"), pending, appSecret())
	fl := newStreamLogs()
	fl.add("dev-api-a", "api", t0, "fine")
	fl.err["dev-api-b/api"] = apierrors.NewBadRequest("container api in pod dev-api-b is waiting to start")
	code, out, errOut := logsRun(t, tt, fl, "api")
	if code != cli.ExitFailed || out != "dev-api-a api fine\n" || !strings.Contains(errOut, "warning: dev-api-b api: cannot read the log: container api in pod dev-api-b is waiting to start") ||
		!strings.Contains(errOut, "dev-api-c api: not started (pod Pending)") || !strings.Contains(errOut, "error: the logs of 1 of 2 containers could not be read") {
		t.Errorf("exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	tt = clitest.New(testNS, runningPod(app.API, "dev-api-a", "a"), appSecret())
	fl.err["dev-api-a/api"] = apierrors.NewForbidden(schema.GroupResource{Resource: "pods/log"}, "dev-api-a", errors.New("no"))
	if code, _, errOut := logsRun(t, tt, fl, "api"); code != cli.ExitCluster {
		t.Errorf("forbidden pods/log: exit %d\n%s", code, errOut)
	}

	tt = clitest.New(testNS, appSecret())
	if code, _, errOut := logsRun(t, tt, fl, "redis"); code != cli.ExitFailed || !strings.Contains(errOut, "no pod of redis (app=redis) in namespace "+testNS) {
		t.Errorf("no pods: exit %d\n%s", code, errOut)
	}

	// --previous reads the crashed instance, and says which containers have none
	crashed := runningPod(app.API, "dev-api-a", "a")
	crashed.Status.ContainerStatuses[0].RestartCount = 3
	crashed.Status.ContainerStatuses[0].LastTerminationState.Terminated = &corev1.ContainerStateTerminated{ExitCode: 1}
	tt = clitest.New(testNS, crashed, runningPod(app.API, "dev-api-b", "b"), appSecret())
	fl = newStreamLogs()
	fl.add("dev-api-a", "api", t0, "Traceback")
	code, out, errOut = logsRun(t, tt, fl, "api", "--previous")
	if code != 0 || out != "dev-api-a api Traceback\n" || !strings.Contains(errOut, "dev-api-b api: no previous container") ||
		strings.Join(fl.Opens(), ",") != "dev-api-a/api tail=100 previous" {
		t.Errorf("--previous: exit %d opens %v\n%s\n%s", code, fl.Opens(), out, errOut)
	}
}

// waitFor waits (bounded) until cond holds; it fails the test with what it shows otherwise.
func waitFor(t *testing.T, what string, cond func() bool, show func() string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("never saw %s:\n%s", what, show())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// -f: the lines of the running pods as they come; a pod that appears is
// followed from its first line, with its Secret read again (rotated), a pod
// that goes is dropped with a line saying so; Ctrl-C ends with 130.
func TestLogsFollow(t *testing.T) {
	tt := clitest.New(testNS, runningPod(app.API, "dev-api-a", "a"), appSecret())
	var out, errOut syncBuffer
	tt.Out, tt.ErrOut = &out, &errOut
	fl := newStreamLogs()
	fl.add("dev-api-a", "api", t0, "old line")
	fl.add("dev-api-a", "api", t0.Add(time.Second), "a1")
	o, err := logsOptions(tt, fl, "api", "-f", "--tail", "1")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	show := func() string { return "stdout:\n" + out.String() + "\nstderr:\n" + errOut.String() }
	waitFor(t, "the first line", func() bool { return strings.Contains(out.String(), "dev-api-a api a1\n") }, show)
	waitFor(t, "the pod watch", func() bool {
		for _, a := range tt.Fake.Actions() {
			if a.GetVerb() == "watch" && a.GetResource().Resource == "pods" {
				return true
			}
		}
		return false
	}, show)
	fl.add("dev-api-a", "api", t0.Add(2*time.Second), "a2 live")
	waitFor(t, "a followed line", func() bool { return strings.Contains(out.String(), "a2 live") }, show)

	// a rollout: the Secret was rotated, a new pod starts, the old one goes
	rotated := "rotated-secret-value-77aa"
	s := appSecret()
	s.Data[app.KeyDatabasePassword] = []byte(rotated)
	if _, err := tt.Fake.CoreV1().Secrets(testNS).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	fl.add("dev-api-b", "api", t0.Add(3*time.Second), "b1 first line of the new pod")
	fl.add("dev-api-b", "api", t0.Add(4*time.Second), "b2 password "+rotated+" and old "+plantedValue)
	if _, err := tt.Fake.CoreV1().Pods(testNS).Create(ctx, runningPod(app.API, "dev-api-b", "b"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new pod's lines", func() bool { return strings.Contains(out.String(), "b2 password") }, show)
	if err := tt.Fake.CoreV1().Pods(testNS).Delete(ctx, "dev-api-a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the old pod dropped", func() bool { return strings.Contains(errOut.String(), "- dev-api-a api (pod deleted)") }, show)
	fl.add("dev-api-b", "api", t0.Add(5*time.Second), "b3 still here")
	fl.add("dev-api-a", "api", t0.Add(5*time.Second), "a3 after its pod went")
	waitFor(t, "b3", func() bool { return strings.Contains(out.String(), "b3 still here") }, show)
	cancel()
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("-f did not stop when its context ended")
	}
	if code := exitOf(tt, err); code != cli.ExitInterrupted {
		t.Errorf("exit %d, want 130", code)
	}
	want := "dev-api-a api a1\ndev-api-a api a2 live\ndev-api-b api b1 first line of the new pod\n" +
		"dev-api-b api b2 password REDACTED and old REDACTED\ndev-api-b api b3 still here\n"
	if out.String() != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out.String(), want)
	}
	for _, l := range []string{"+ dev-api-a api\n", "+ dev-api-b api (new pod)\n", "- dev-api-a api (pod deleted)\n"} {
		if !strings.Contains(errOut.String(), l) {
			t.Errorf("stderr lacks %q:\n%s", l, errOut.String())
		}
	}
	if strings.Contains(errOut.String(), "error:") {
		t.Errorf("Ctrl-C printed an error:\n%s", errOut.String())
	}
	noSecret(t, out.String(), errOut.String())
	if got := strings.Join(fl.Opens(), ","); got != "dev-api-a/api tail=1,dev-api-b/api" {
		t.Errorf("opens %s (the new pod from its first line)", got)
	}
}

// A follow stream that ends while its container runs (a lost connection) is
// resumed from its last line's time, without repeating a line.
func TestLogsFollowResumes(t *testing.T) {
	tt := clitest.New(testNS, runningPod(app.Worker, "dev-worker-0", "w0"), appSecret())
	var out, errOut syncBuffer
	tt.Out, tt.ErrOut = &out, &errOut
	fl := newStreamLogs()
	fl.add("dev-worker-0", "worker", t0.Add(1500*time.Millisecond), "w1")
	fl.add("dev-worker-0", "worker", t0.Add(1500*time.Millisecond), "w2 same time")
	o, err := logsOptions(tt, fl, "worker", "-f")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	show := func() string { return out.String() + "\n" + errOut.String() + strings.Join(fl.Opens(), "\n") }
	waitFor(t, "w2", func() bool { return strings.Contains(out.String(), "w2 same time") }, show)
	fl.endStream("dev-worker-0", "worker", true)
	waitFor(t, "the resumed stream", func() bool { return len(fl.Opens()) == 2 }, show)
	fl.endStream("dev-worker-0", "worker", false)
	fl.add("dev-worker-0", "worker", t0.Add(3*time.Second), "w3 after the resume")
	waitFor(t, "w3", func() bool { return strings.Contains(out.String(), "w3") }, show)
	cancel()
	<-done
	if want := "dev-worker-0 worker w1\ndev-worker-0 worker w2 same time\ndev-worker-0 worker w3 after the resume\n"; out.String() != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out.String(), want)
	}
	if got := fl.Opens()[1]; got != "dev-worker-0/worker since=2026-12-01T02:00:01Z" {
		t.Errorf("resumed with %s", got)
	}
	if strings.Contains(errOut.String(), "- dev-worker-0") {
		t.Errorf("a resumed stream was reported as ended:\n%s", errOut.String())
	}
}

// On a colour terminal the prefix is in a colour of its pod (the container
// dimmed), the same for every line of the pod; -o json has no colour.
func TestLogsColour(t *testing.T) {
	var out bytes.Buffer
	w := newLogWriter(&out, io.Discard, false, false, true, newMasker(), nil)
	for _, l := range []logLine{{pod: "dev-api-a", container: "api", msg: "one"}, {pod: "dev-api-b", container: "api", msg: "two"}, {pod: "dev-api-a", container: "api", msg: "three"}} {
		if err := w.write(l, true); err != nil {
			t.Fatal(err)
		}
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	colour := func(l string) string { return l[:strings.IndexByte(l, 'm')+1] }
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "\x1b[") || !strings.Contains(lines[0], "dev-api-a\x1b[0m \x1b[2;") ||
		colour(lines[0]) != colour(lines[2]) || colour(lines[0]) == colour(lines[1]) || !strings.HasSuffix(lines[1], "\x1b[0m two") {
		t.Errorf("coloured lines %q", lines)
	}
	out.Reset()
	w = newLogWriter(&out, io.Discard, true, false, true, newMasker(), nil)
	if err := w.write(logLine{pod: "p", container: "c", msg: "m"}, true); err != nil || strings.Contains(out.String(), "\x1b") {
		t.Errorf("json %q %v", out.String(), err)
	}
}

// The pod watch survives what an API server does to it: a bookmark, a
// closed watch (re-opened from the last version) and an expired version
// (410: the pods are listed again and compared).
func TestLogsFollowWatchRecovers(t *testing.T) {
	tt := clitest.New(testNS, runningPod(app.API, "dev-api-a", "a"), appSecret())
	var out, errOut syncBuffer
	tt.Out, tt.ErrOut = &out, &errOut
	watchers := make(chan *watch.FakeWatcher, 10)
	var versions []string
	var mu sync.Mutex
	tt.Fake.PrependWatchReactor("pods", func(a k8stesting.Action) (bool, watch.Interface, error) {
		mu.Lock()
		versions = append(versions, a.(k8stesting.WatchActionImpl).WatchRestrictions.ResourceVersion)
		mu.Unlock()
		w := watch.NewFakeWithChanSize(10, false)
		watchers <- w
		return true, w, nil
	})
	fl := newStreamLogs()
	fl.add("dev-api-a", "api", t0, "a1")
	fl.add("dev-api-c", "api", t0.Add(time.Second), "c1 from the relisted pod")
	o, err := logsOptions(tt, fl, "api", "-f")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()
	show := func() string { return out.String() + "\n" + errOut.String() }
	next := func() *watch.FakeWatcher {
		select {
		case w := <-watchers:
			return w
		case <-time.After(20 * time.Second):
			t.Fatalf("no watch opened:\n%s", show())
			return nil
		}
	}
	w := next()
	bookmark := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{ResourceVersion: "41"}}
	w.Action(watch.Bookmark, bookmark)
	w.Stop() // the API server ends the watch
	w = next()
	// meanwhile dev-api-a went and dev-api-c came, and the version expired
	if err := tt.Fake.Tracker().Delete(corev1.SchemeGroupVersion.WithResource("pods"), testNS, "dev-api-a"); err != nil {
		t.Fatal(err)
	}
	if err := tt.Fake.Tracker().Add(runningPod(app.API, "dev-api-c", "c")); err != nil {
		t.Fatal(err)
	}
	w.Error(&apierrors.NewResourceExpired("too old resource version").ErrStatus)
	next()
	waitFor(t, "the relisted pod's line", func() bool { return strings.Contains(out.String(), "dev-api-c api c1 from the relisted pod") }, show)
	waitFor(t, "the vanished pod dropped", func() bool { return strings.Contains(errOut.String(), "- dev-api-a api (pod deleted)") }, show)
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if len(versions) < 2 || versions[1] != "41" {
		t.Errorf("watch versions %q: the second watch must go on from the bookmark's version", versions)
	}
	if strings.Contains(errOut.String(), "+ dev-api-a api (new pod)") || strings.Count(errOut.String(), "+ dev-api-a api") != 1 {
		t.Errorf("a bookmark or relist restarted a stream:\n%s", errOut.String())
	}
}
