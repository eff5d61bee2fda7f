package diagnose_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// criLine is a line of a container log file in the CRI format kwok serves.
func criLine(t time.Time, text string) string {
	return t.UTC().Format("2006-01-02T15:04:05.000000000Z") + " stdout F " + text + "\n"
}

func appendFile(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// clusterLogs makes kwok serve file as the log of the worker container of
// pod name in ns (a ClusterLogs object, deleted when the test ends).
func clusterLogs(t *testing.T, ns, pod, file string) {
	t.Helper()
	name := "piyasa-e2e-" + ns + "-" + pod
	harness.ApplyYAML(t, "", fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata: {name: %s}
spec:
  selector: {matchNamespaces: [%s], matchNames: [%s]}
  logs: [{containers: [worker], logsFile: %s, follow: true}]
`, name, ns, pod, file))
	t.Cleanup(func() { harness.Kubectl(t, "delete", "clusterlogs", name, "--ignore-not-found").Run() })
}

// noPlanted fails the test when an output holds a planted secret value, raw or base64.
func noPlanted(t *testing.T, what string, outs ...string) {
	t.Helper()
	for _, out := range outs {
		for k, v := range planted {
			for _, form := range []string{v, base64.StdEncoding.EncodeToString([]byte(v))} {
				if strings.Contains(out, form) {
					t.Errorf("%s holds the planted value of %s", what, k)
				}
			}
		}
	}
}

// TestLogs: three worker pods whose logs kwok serves from files; the lines
// merged in time order with a pod prefix and planted Secret values masked;
// -f follows the files as they grow and a pod replaced in the middle.
func TestLogs(t *testing.T) {
	t.Parallel()
	ns := harness.Namespace(t, "logs")
	var secret strings.Builder
	for k, v := range planted {
		fmt.Fprintf(&secret, "  %s: %q\n", k, v)
	}
	harness.ApplyYAML(t, ns, "apiVersion: v1\nkind: Secret\nmetadata: {name: piyasa-secrets}\nstringData:\n"+secret.String())
	dir := t.TempDir()
	base := time.Now().Add(-5 * time.Minute).Truncate(time.Second)
	files := map[string]string{}
	for i := 0; i < 3; i++ {
		pod := fmt.Sprintf("dev-worker-%d", i)
		files[pod] = filepath.Join(dir, pod+".log")
		appendFile(t, files[pod], criLine(base.Add(time.Duration(1+i)*time.Second), fmt.Sprintf("w%d starting shard %d of 3", i, i))+
			criLine(base.Add(time.Duration(4+i)*time.Second), fmt.Sprintf("w%d line two", i)))
		clusterLogs(t, ns, pod, files[pod])
	}
	appendFile(t, files["dev-worker-1"], criLine(base.Add(10*time.Second), "w1 connecting with password "+planted["DATABASE_PASSWORD"]))
	appendFile(t, files["dev-worker-2"], criLine(base.Add(11*time.Second),
		"w2 calling the LLM with key "+base64.StdEncoding.EncodeToString([]byte(planted["OPENAI_API_KEY"]))))
	harness.ApplyYAML(t, ns, `apiVersion: apps/v1
kind: StatefulSet
metadata: {name: dev-worker}
spec:
  replicas: 3
  podManagementPolicy: Parallel
  serviceName: dev-worker-service
  selector: {matchLabels: {app: piyasa-worker, component: worker}}
  template:
    metadata: {labels: {app: piyasa-worker, component: worker}}
    spec:
      containers:
      - name: worker
        image: ghcr.io/example/api:v1
        envFrom: [{secretRef: {name: piyasa-secrets}}]
`)
	harness.Kubectl(t, "rollout", "status", "statefulset/dev-worker", "-n", ns, "--timeout=120s").WithTimeout(3 * time.Minute).RunOK()
	args := []string{"diagnose", "logs", "worker", "--env", "dev", "-n", ns}

	// Without -f: all lines of the three pods in time order, masked.
	r := harness.Piyasa(t, args...).RunOK()
	want := "dev-worker-0 worker w0 starting shard 0 of 3\n" +
		"dev-worker-1 worker w1 starting shard 1 of 3\n" +
		"dev-worker-2 worker w2 starting shard 2 of 3\n" +
		"dev-worker-0 worker w0 line two\n" +
		"dev-worker-1 worker w1 line two\n" +
		"dev-worker-2 worker w2 line two\n" +
		"dev-worker-1 worker w1 connecting with password REDACTED\n" +
		"dev-worker-2 worker w2 calling the LLM with key REDACTED\n"
	t.Logf("diagnose logs worker:\n%s", r.Stdout)
	if r.Stdout != want {
		t.Errorf("diagnose logs worker:\n%s\nwant:\n%s\nstderr:\n%s", r.Stdout, want, r.Stderr)
	}
	noPlanted(t, "diagnose logs", r.Stdout, r.Stderr)

	// -o json: one object per line; --tail 1 and --grep.
	r = harness.Piyasa(t, append(args, "-o", "json", "--tail", "1")...).RunOK()
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("--tail 1 -o json: %d lines:\n%s", len(lines), r.Stdout)
	}
	t.Logf("diagnose logs worker -o json --tail 1:\n%s", r.Stdout)
	var last struct{ Pod, Container, Time, Message string }
	if err := json.Unmarshal([]byte(lines[2]), &last); err != nil {
		t.Fatalf("%v: %s", err, lines[2])
	}
	if last.Pod != "dev-worker-2" || last.Container != "worker" || last.Message != "w2 calling the LLM with key REDACTED" ||
		last.Time != base.Add(11*time.Second).UTC().Format(time.RFC3339) {
		t.Errorf("json line %+v", last)
	}
	noPlanted(t, "diagnose logs -o json", r.Stdout)
	r = harness.Piyasa(t, append(args, "--grep", `line two$`)...).RunOK()
	if strings.Count(r.Stdout, "\n") != 3 || !strings.Contains(r.Stdout, "dev-worker-1 worker w1 line two\n") {
		t.Errorf("--grep:\n%s", r.Stdout)
	}
	r = harness.Piyasa(t, "diagnose", "logs", "databse", "-n", ns).ExpectCode(2)
	if !strings.Contains(r.Stderr, "use one of api, worker, frontend, postgres, redis") {
		t.Errorf("unknown component: %s", r.Stderr)
	}
	harness.Piyasa(t, append(args, "--grep", "(")...).ExpectCode(2)

	// Without the right to read the Secret: exit 3 before a line, unless --no-mask.
	harness.ApplyYAML(t, ns, `apiVersion: v1
kind: ServiceAccount
metadata: {name: log-reader}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: log-reader}
rules:
- apiGroups: [""]
  resources: [pods, pods/log]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: log-reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: log-reader}
subjects: [{kind: ServiceAccount, name: log-reader}]
`)
	as := "system:serviceaccount:" + ns + ":log-reader"
	r = harness.Piyasa(t, append(args, "--as", as)...).ExpectCode(3)
	t.Logf("without get secrets:\n%s", r.Stderr)
	if r.Stdout != "" || !strings.Contains(r.Stderr, "missing RBAC right for diagnose logs in namespace "+ns+": get secrets") ||
		!strings.Contains(r.Stderr, "hint: --no-mask prints the logs without reading the Secrets") {
		t.Errorf("no get secrets:\nstdout: %s\nstderr: %s", r.Stdout, r.Stderr)
	}
	// (--grep keeps the lines without a Secret value: unmasked, those would be a
	// leak the harness's canary scan reports.)
	r = harness.Piyasa(t, append(args, "--as", as, "--no-mask", "--grep", "starting shard")...).RunOK()
	if !strings.Contains(r.Stdout, "w0 starting shard 0 of 3") || !strings.Contains(r.Stderr, "warning: --no-mask") {
		t.Errorf("--no-mask:\nstdout: %s\nstderr: %s", r.Stdout, r.Stderr)
	}

	// -f: the files grow, a pod is replaced, Ctrl-C ends it.
	var out, errb harness.SyncBuffer
	cmd := harness.Piyasa(t, append(args, "-f")...).Start(&out, &errb)
	stopped := false
	defer func() {
		if !stopped {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	waitFor := func(what string, ok func() bool) {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for !ok() {
			if time.Now().After(deadline) {
				t.Fatalf("logs -f never showed %s:\nstdout:\n%s\nstderr:\n%s", what, out.String(), errb.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	has := func(b *harness.SyncBuffer, s string) func() bool {
		return func() bool { return strings.Contains(b.String(), s) }
	}
	waitFor("the existing lines", has(&out, "dev-worker-2 worker w2 calling the LLM with key REDACTED\n"))
	for i := 0; i < 3; i++ {
		waitFor("the stream of each pod", has(&errb, fmt.Sprintf("+ dev-worker-%d worker\n", i)))
	}
	appendFile(t, files["dev-worker-0"], criLine(time.Now(), "w0 live: token "+planted["API_KEY"]))
	waitFor("a line appended to a file", has(&out, "dev-worker-0 worker w0 live: token REDACTED\n"))

	// The replacement pod gets a log of its own, then the pod is deleted;
	// the StatefulSet makes a new dev-worker-1.
	newLog := filepath.Join(dir, "dev-worker-1-new.log")
	appendFile(t, newLog, criLine(time.Now(), "w1 (new) starting shard 1 of 3 with "+planted["DEFAULT_ADMIN_PASSWORD"]))
	clusterLogs(t, ns, "dev-worker-1", newLog)
	harness.Kubectl(t, "delete", "pod", "dev-worker-1", "-n", ns, "--wait=false").RunOK()
	waitFor("the old pod dropped", has(&errb, "- dev-worker-1 worker (pod deleted)\n"))
	waitFor("the new pod followed", has(&errb, "+ dev-worker-1 worker (new pod)\n"))
	waitFor("the new pod's line", has(&out, "dev-worker-1 worker w1 (new) starting shard 1 of 3 with REDACTED\n"))
	appendFile(t, files["dev-worker-1"], criLine(time.Now(), "w1 (old) after its pod went"))
	appendFile(t, newLog, criLine(time.Now(), "w1 (new) live"))
	appendFile(t, files["dev-worker-2"], criLine(time.Now(), "w2 live"))
	waitFor("lines after the replacement", func() bool { return has(&out, "w1 (new) live\n")() && has(&out, "dev-worker-2 worker w2 live\n")() })

	t.Logf("diagnose logs worker -f:\nstdout:\n%s\nstderr:\n%s", out.String(), errb.String())
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("logs -f did not stop on SIGINT")
	}
	stopped = true
	if code := cmd.ProcessState.ExitCode(); code != 130 {
		t.Errorf("logs -f ended with %d on SIGINT, want 130", code)
	}
	if strings.Contains(out.String(), "w1 (old) after its pod went") {
		t.Errorf("a deleted pod's stream went on:\n%s", out.String())
	}
	if strings.Contains(errb.String(), "error:") {
		t.Errorf("stderr:\n%s", errb.String())
	}
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if !strings.HasPrefix(l, "dev-worker-0 worker ") && !strings.HasPrefix(l, "dev-worker-1 worker ") && !strings.HasPrefix(l, "dev-worker-2 worker ") {
			t.Errorf("line without its pod's prefix: %q", l)
		}
	}
	noPlanted(t, "diagnose logs -f", out.String(), errb.String())
}
