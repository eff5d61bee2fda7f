package diagnose_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/bundle"
	"github.com/piyasa/kubectl-piyasa/shared/diagnose"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

var apiLabels = map[string]string{"app": "piyasa-api", "component": "backend"}

// TestHealthyDevApp: the dev environment deployed as shipped gives exit 0 and
// no error finding; each kind is read with ONE LIST however many pages it takes.
func TestHealthyDevApp(t *testing.T) {
	ns := harness.Namespace(t, "diag-ok")
	envFile := deployHealthy(t, ns)
	// 24 more pods, so that --chunk-size 5 pages the pod LIST
	harness.ApplyYAML(t, ns, `apiVersion: apps/v1
kind: Deployment
metadata: {name: filler}
spec:
  replicas: 24
  selector: {matchLabels: {app: filler}}
  template:
    metadata: {labels: {app: filler}}
    spec:
      automountServiceAccountToken: false
      securityContext: {runAsNonRoot: true, runAsUser: 10001, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: c
        image: "example/filler:v1"
        securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
`)
	harness.Kubectl(t, "rollout", "status", "deployment/filler", "-n", ns, "--timeout=120s").WithTimeout(3 * time.Minute).RunOK()

	rep := report(t, 0, "--env", "dev", "-n", ns, "--env-file", envFile, "--chunk-size", "5")
	if errs := errorsOf(rep); len(errs) > 0 {
		t.Fatalf("healthy app has errors:\n%s", strings.Join(errs, "\n"))
	}
	if rep.Namespace != ns || rep.Environment != "dev" || rep.Summary.Passed < 40 || rep.Summary.Score < 80 {
		t.Errorf("summary: ns=%s env=%s %+v", rep.Namespace, rep.Environment, rep.Summary)
	}
	if c := checkStatus(rep, "PIY204"); c.Status != diagnose.StatusPassed {
		t.Errorf("PIY204 (.env vs Secret) = %+v", c)
	}
	if rep.Stats.Pods < 30 {
		t.Errorf("pods read: %d", rep.Stats.Pods)
	}
	// the request counts are taken at the transport: one LIST per kind
	req := rep.Stats.Requests
	for res, n := range req.Lists {
		if n != 1 {
			t.Errorf("%s listed %d times", res, n)
		}
	}
	if req.Lists["pods"] != 1 || req.Pages["pods"] < 6 {
		t.Errorf("pods: %d lists in %d pages, want 1 list in >= 6 pages (30 pods, chunk 5)", req.Lists["pods"], req.Pages["pods"])
	}
	for _, kind := range []string{"pods", "deployments.apps", "statefulsets.apps", "services", "configmaps", "secrets", "events", "horizontalpodautoscalers.autoscaling", "ingresses.networking.k8s.io", "persistentvolumeclaims"} {
		if req.Lists[kind] != 1 {
			t.Errorf("%s: %d lists, want 1", kind, req.Lists[kind])
		}
	}

	// the table: grouped, with the summary line; exit 0
	res := harness.Piyasa(t, "diagnose", "--env", "dev", "-n", ns).ExpectCode(0)
	if !strings.Contains(res.Stdout, " errors, ") || !strings.Contains(res.Stdout, "checks passed") || !strings.Contains(res.Stdout, "score ") {
		t.Errorf("table output:\n%s", res.Stdout)
	}
	// junit
	res = harness.Piyasa(t, "diagnose", "--env", "dev", "-n", ns, "-o", "junit").ExpectCode(0)
	if !strings.Contains(res.Stdout, "<testsuites") || !strings.Contains(res.Stdout, `name="PIY401 TOTAL_WORKERS differs from worker replicas"`) {
		t.Errorf("junit:\n%s", res.Stdout)
	}
	// --fail-on warning turns the kwok cluster's warnings (no ingress-nginx) into exit 1
	harness.Piyasa(t, "diagnose", "--env", "dev", "-n", ns, "--fail-on", "warning").ExpectCode(1)
}

// TestSeededFaults seeds the guide's faults and the first manifests' misconfigurations for real and
// checks that each gives its code.
func TestSeededFaults(t *testing.T) {
	ns := harness.Namespace(t, "diag-bad")
	deployHealthy(t, ns)
	cs := harness.Client(t)
	ctx := context.Background()
	cmName := "dev-piyasa-config"

	// trap 1 + 2: DATABASE_URL names the unprefixed Service and holds the password; trap 3: TOTAL_WORKERS != replicas
	harness.Kubectl(t, "patch", "configmap", cmName, "-n", ns, "--type=merge", "-p",
		`{"data":{"DATABASE_URL":"postgresql://piyasa_user:hunter2-in-configmap-`+harness.Canary+`@db-service:5432/piyasa_db","REDIS_URL":"redis://redis-service:6379/0","TOTAL_WORKERS":"5"}}`).RunOK()
	// a required Secret key missing
	harness.Kubectl(t, "patch", "secret", "piyasa-secrets", "-n", ns, "--type=json", "-p", `[{"op":"remove","path":"/data/DEFAULT_ADMIN_MFA_SECRET"}]`).RunOK()
	// trap 5: a CronJob reading Secret keys the .env never defines; trap 4: PostgreSQL rolling with a RWO volume
	// trap 3: an HPA on the workers; an HPA over containers without requests; a Pending PVC; CORS *; an expired TLS secret
	crt, key := selfSigned(t, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour))
	harness.ApplyYAML(t, ns, fmt.Sprintf(`apiVersion: batch/v1
kind: CronJob
metadata: {name: old-backup}
spec:
  schedule: "0 2 * * *"
  suspend: true
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          securityContext: {runAsNonRoot: true, runAsUser: 10001, seccompProfile: {type: RuntimeDefault}}
          containers:
          - name: backup
            image: postgres:16-alpine
            securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
            env:
            - name: PGPASSWORD
              valueFrom: {secretKeyRef: {name: piyasa-secrets, key: DB_PASSWORD}}
            - name: URL
              valueFrom: {configMapKeyRef: {name: %[1]s, key: NO_SUCH_KEY}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: worker-hpa}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: StatefulSet, name: dev-worker}
  minReplicas: 4
  maxReplicas: 12
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 75}}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: nores}
spec:
  replicas: 1
  selector: {matchLabels: {app: nores}}
  template:
    metadata: {labels: {app: nores}}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 10001, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: c
        image: "example/nores:v1"
        securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: nores-hpa}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: nores}
  minReplicas: 1
  maxReplicas: 2
  metrics: [{type: Resource, resource: {name: memory, target: {type: Utilization, averageUtilization: 80}}}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: ghost-hpa}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: ghost}
  minReplicas: 1
  maxReplicas: 2
  metrics: [{type: Resource, resource: {name: cpu, target: {type: Utilization, averageUtilization: 80}}}]
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: stuck-pvc}
spec:
  storageClassName: no-such-class
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: v1
kind: Secret
metadata: {name: expired-tls}
type: kubernetes.io/tls
data:
  tls.crt: %[2]s
  tls.key: %[3]s
`, cmName, base64.StdEncoding.EncodeToString(crt), base64.StdEncoding.EncodeToString(key)))
	harness.Kubectl(t, "patch", "deployment", "dev-postgres", "-n", ns, "--type=merge", "-p", `{"spec":{"strategy":{"type":"RollingUpdate"}}}`).RunOK()
	harness.Kubectl(t, "patch", "ingress", "dev-piyasa-ingress", "-n", ns, "--type=merge", "-p",
		`{"metadata":{"annotations":{"nginx.ingress.kubernetes.io/cors-allow-origin":"*"}},"spec":{"tls":[{"hosts":["piyasa-chatbot.local"],"secretName":"expired-tls"},{"hosts":["api.piyasa-chatbot.local"],"secretName":"missing-tls"}]}}`).RunOK()

	// pods failing the way the kubelet reports it; crash logs served by kwok
	logDir := t.TempDir()
	crashPod(t, ns, "crash-db", apiLabels, "512Mi", crashLoop("api", "Error", 1, 6))
	crashPod(t, ns, "crash-llm", apiLabels, "512Mi", crashLoop("api", "Error", 1, 6))
	crashPod(t, ns, "crash-plain", nil, "", crashLoop("app", "Error", 2, 9))
	crashPod(t, ns, "oom", apiLabels, "512Mi", crashLoop("api", "OOMKilled", 137, 3))
	crashPod(t, ns, "pull", nil, "", waiting("app", "ImagePullBackOff", `Back-off pulling image "example/nope:v9"`))
	crashPod(t, ns, "config", nil, "", waiting("app", "CreateContainerConfigError", "couldn't find key DB_PASSWORD in Secret "+ns+"/piyasa-secrets"))
	dbPrev := criLog(t, logDir, "db-prev.log", "INFO starting api", `sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) could not connect to server: Connection refused`,
		"\tIs the server running on host \"db-service\" and accepting TCP/IP connections on port 5432?")
	llmPrev := criLog(t, logDir, "llm-prev.log", "INFO calling provider", "openai.AuthenticationError: Error code: 401 - Incorrect API key provided: "+planted["OPENAI_API_KEY"])
	plainPrev := criLog(t, logDir, "plain-prev.log", "panic: something odd happened")
	cur := criLog(t, logDir, "current.log", "INFO restarting")
	harness.ApplyYAML(t, ns, fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: Logs
metadata: {name: crash-db}
spec: {logs: [{containers: [api], logsFile: %[1]s, previousLogsFile: %[2]s}]}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Logs
metadata: {name: crash-llm}
spec: {logs: [{containers: [api], logsFile: %[1]s, previousLogsFile: %[3]s}]}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Logs
metadata: {name: crash-plain}
spec: {logs: [{containers: [app], logsFile: %[1]s, previousLogsFile: %[4]s}]}
`, cur, dbPrev, llmPrev, plainPrev))

	rep := report(t, 1, "--env", "dev", "-n", ns)
	got := codes(rep)
	want := map[string]string{
		"PIY101": "crash-plain", "PIY102": "oom", "PIY103": "crash-db", "PIY105": "crash-llm", "PIY107": "pull", "PIY108": "config",
		"PIY201": "old-backup", "PIY202": "old-backup", "PIY205": "piyasa-secrets",
		"PIY303": cmName, "PIY304": cmName, "PIY305": "dev-postgres", "PIY353": cmName,
		"PIY401": "dev-worker", "PIY402": "worker-hpa", "PIY411": "nores-hpa", "PIY414": "ghost-hpa",
		"PIY501": "dev-piyasa-ingress", "PIY504": "missing-tls", "PIY505": "expired-tls", "PIY601": "stuck-pvc", "PIY904": "dev-piyasa-ingress",
	}
	for code, obj := range want {
		found := false
		for _, f := range got[code] {
			if f.Object.Name == obj {
				found = true
				if f.Fix == "" || f.Message == "" || f.Severity == "" {
					t.Errorf("%s: incomplete finding %+v", code, f)
				}
			}
		}
		if !found {
			t.Errorf("want %s on %s; got %+v", code, obj, got[code])
		}
	}
	for _, f := range got["PIY102"] {
		if !strings.Contains(f.Message, "512Mi") || !strings.Contains(f.Fix, `"memory":"1024Mi"`) {
			t.Errorf("OOM finding lacks the limit or the patch: %+v", f)
		}
	}
	for _, f := range got["PIY103"] {
		if !strings.Contains(strings.Join(f.Evidence, "\n"), "could not connect to server") {
			t.Errorf("PIY103 evidence lacks the log line: %+v", f)
		}
	}
	for _, f := range got["PIY108"] {
		if !strings.Contains(f.Message, "DB_PASSWORD") {
			t.Errorf("PIY108 does not name the key: %+v", f)
		}
	}
	for _, f := range got["PIY401"] {
		if !strings.Contains(f.Fix, "kubectl piyasa scale worker 2") {
			t.Errorf("PIY401 fix: %s", f.Fix)
		}
	}
	if strings.Contains(fmt.Sprint(rep), "hunter2-in-configmap") {
		t.Error("the ConfigMap password was printed")
	}

	// --only narrows the run to the named checks; --min-severity error hides warnings
	rep = report(t, 1, "--env", "dev", "-n", ns, "--only", "workers,PIY304", "--min-severity", "error")
	for _, c := range rep.Checks {
		if c.Code != "PIY401" && c.Code != "PIY402" && c.Code != "PIY304" {
			t.Errorf("--only ran %s", c.Code)
		}
	}
	if len(rep.Findings) != 3 {
		t.Errorf("--only workers,PIY304: %d findings: %+v", len(rep.Findings), rep.Findings)
	}
	// skipping every failing check gives exit 0
	var failing []string
	for code := range codes(report(t, 1, "--env", "dev", "-n", ns, "--min-severity", "error")) {
		failing = append(failing, code)
	}
	report(t, 0, "--env", "dev", "-n", ns, "--skip", strings.Join(failing, ","))

	// an IngressClass that does not match the Ingress's class
	_, err := cs.NetworkingV1().IngressClasses().Create(ctx, ingressClass("traefik", "traefik.io/ingress-controller"), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cs.NetworkingV1().IngressClasses().Delete(context.Background(), "traefik", metav1.DeleteOptions{})
	})
	if got := codes(report(t, 1, "--env", "dev", "-n", ns, "--only", "ingress")); len(got["PIY502"]) != 1 || len(got["PIY501"]) != 0 {
		t.Errorf("with IngressClass traefik only: %+v", got)
	}
}

// TestProbes runs --probe against exec mapped by kwok to local scripts.
func TestProbes(t *testing.T) {
	ns := harness.Namespace(t, "diag-probe")
	deployHealthy(t, ns)
	dir := t.TempDir()
	scripts := map[string]string{
		"pg_isready": "#!/bin/sh\necho '/var/run/postgresql:5432 - accepting connections'\n",
		"redis-cli":  "#!/bin/sh\necho 'Could not connect to Redis at 127.0.0.1:6379: Connection refused'\nexit 1\n",
		"df": "#!/bin/sh\necho 'Filesystem 1024-blocks Used Available Capacity Mounted on'\n" +
			"case \"$2\" in *postgres*) echo \"/dev/sdb 10000 9500 500 95% $2\";; *) echo \"/dev/sdc 10000 8500 1500 85% $2\";; esac\n",
		// pg_stat_archiver: archive_mode on, the last failure newer than the last success
		"psql": "#!/bin/sh\necho 'on|4|000000010000000000000007|t|000000010000000000000006'\n",
	}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The WAL archive misses segment 3: PIY980; the newest base backup's
	// history file names segment 0, gone from the archive: PIY982.
	wal := t.TempDir()
	for _, seg := range []string{"000000010000000000000001", "000000010000000000000002", "000000010000000000000004", "000000010000000000000000.00000028.backup"} {
		if err := os.WriteFile(filepath.Join(wal, seg), []byte("wal"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	harness.ApplyClusterExec(t, "diag-probe-"+ns, ns, dir, "PATH="+dir+":/usr/bin:/bin", "WAL_ARCHIVE_DIR="+wal)

	// without --probe no probe check runs
	for _, c := range report(t, 0, "--env", "dev", "-n", ns).Checks {
		if strings.HasPrefix(c.Code, "PIY97") {
			t.Errorf("probe check %s ran without --probe", c.Code)
		}
	}
	start := time.Now()
	rep := report(t, 1, "--env", "dev", "-n", ns, "--probe")
	if d := time.Since(start); d > 90*time.Second {
		t.Errorf("probes took %s: not bounded", d)
	}
	got := codes(rep)
	if c := checkStatus(rep, "PIY971"); c.Status != diagnose.StatusPassed {
		t.Errorf("pg_isready said accepting connections, PIY971 = %+v %+v", c, got["PIY971"])
	}
	if len(got["PIY972"]) != 1 {
		t.Errorf("redis-cli did not say PONG, want PIY972: %+v", got)
	}
	if len(got["PIY975"]) != 1 || !strings.Contains(got["PIY975"][0].Message, "95%") {
		t.Errorf("postgres volume at 95%%, want PIY975: %+v", got["PIY975"])
	}
	if len(got["PIY974"]) != 1 || !strings.Contains(got["PIY974"][0].Message, "85%") {
		t.Errorf("redis volume at 85%%, want PIY974: %+v", got["PIY974"])
	}
	// The WAL archive volume (also at 95%) is PIY977, not a second PIY975; archiving failing is PIY978.
	if len(got["PIY977"]) != 1 || !strings.Contains(got["PIY977"][0].Message, "wal-archive") {
		t.Errorf("WAL archive volume at 95%%, want PIY977: %+v", got["PIY977"])
	}
	if len(got["PIY978"]) != 1 || !strings.Contains(got["PIY978"][0].Message, "000000010000000000000007") {
		t.Errorf("pg_stat_archiver says archiving fails, want PIY978: %+v", got["PIY978"])
	}
	if len(got["PIY980"]) != 1 || !strings.Contains(got["PIY980"][0].Message, "000000010000000000000003") {
		t.Errorf("WAL archive without segment 3, want PIY980: %+v", got["PIY980"])
	}
	if len(got["PIY982"]) != 1 || !strings.Contains(got["PIY982"][0].Message, "000000010000000000000000") {
		t.Errorf("WAL archive without the newest base backup's start segment, want PIY982: %+v", got["PIY982"])
	}
	// kwok pods serve no HTTP: the API server cannot proxy to /readyz, so the probe could not run (PIY979), not a failing /readyz
	if len(got["PIY973"]) != 0 {
		t.Errorf("the pod proxy's own failure reported as a failing /readyz: %+v", got["PIY973"])
	}
	readyz := false
	for _, f := range got["PIY979"] {
		readyz = readyz || strings.Contains(f.Message, "GET /readyz")
	}
	if !readyz {
		t.Errorf("want PIY979 for the api's /readyz on kwok: %+v", got["PIY979"])
	}
}

// TestForbiddenAndUnreachable: a user who may not list Secrets or any
// cluster-scoped kind gets those checks skipped, not a crash; no cluster gives exit 3.
func TestForbiddenAndUnreachable(t *testing.T) {
	ns := harness.Namespace(t, "diag-rbac")
	deployHealthy(t, ns)
	harness.ApplyYAML(t, ns, `apiVersion: v1
kind: ServiceAccount
metadata: {name: reader}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader}
rules:
- apiGroups: ["", "apps", "batch", "autoscaling", "networking.k8s.io", "policy", "discovery.k8s.io"]
  resources: [pods, pods/log, deployments, statefulsets, cronjobs, jobs, services, endpointslices, configmaps, horizontalpodautoscalers, ingresses, persistentvolumeclaims, networkpolicies, poddisruptionbudgets, serviceaccounts, events]
  verbs: [get, list]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: reader}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{kind: ServiceAccount, name: reader}]
`)
	token := strings.TrimSpace(harness.Kubectl(t, "create", "token", "reader", "-n", ns).RunOK().Stdout)
	kc := tokenKubeconfig(t, token)
	res := harness.Piyasa(t, "diagnose", "--env", "dev", "-n", ns, "-o", "json", "--kubeconfig", kc).Run()
	if res.Code != 0 && res.Code != 1 {
		t.Fatalf("exit %d\n%s", res.Code, res.Stderr)
	}
	rep := report(t, res.Code, "--env", "dev", "-n", ns, "--kubeconfig", kc)
	for _, code := range []string{"PIY201", "PIY205", "PIY505", "PIY802", "PIY805"} {
		c := checkStatus(rep, code)
		if c.Status != diagnose.StatusSkipped || !strings.HasPrefix(c.Reason, "forbidden: list ") {
			t.Errorf("%s = %+v, want skipped: forbidden", code, c)
		}
	}
	if c := checkStatus(rep, "PIY401"); c.Status != diagnose.StatusPassed {
		t.Errorf("PIY401 = %+v, want passed", c)
	}
	table := harness.Piyasa(t, "diagnose", "--env", "dev", "-n", ns, "--kubeconfig", kc).Run().Stdout
	if !strings.Contains(table, "skipped: ") || !strings.Contains(table, "(forbidden: list secrets)") {
		t.Errorf("table does not say what was skipped:\n%s", table)
	}

	// a ServiceAccount with no rights: almost every check is skipped, which is exit 3, not "No problems found"
	harness.ApplyYAML(t, ns, "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: nobody}\n")
	res = harness.Piyasa(t, "diagnose", "--env", "dev", "-n", ns, "--as", "system:serviceaccount:"+ns+":nobody").ExpectCode(3)
	if strings.Contains(res.Stdout, "No problems found") || strings.Contains(res.Stdout, "score 100/100") || !strings.Contains(res.Stderr, "checks could not run") {
		t.Errorf("rights-less run:\nstdout: %s\nstderr: %s", res.Stdout, res.Stderr)
	}
	harness.Piyasa(t, "diagnose", "-n", ns, "--only", "PIY401", "--skip", "PIY401").ExpectCode(2)

	res = harness.Piyasa(t, "diagnose", "-n", ns, "--server", "https://127.0.0.1:1", "--insecure-skip-tls-verify").ExpectCode(3)
	if !strings.Contains(res.Stderr, "cannot reach the cluster") {
		t.Errorf("stderr: %s", res.Stderr)
	}
	harness.Piyasa(t, "diagnose", "-n", ns, "--only", "PIY999").ExpectCode(2)
	harness.Piyasa(t, "diagnose", "-n", ns, "--fail-on", "info").ExpectCode(2)
	harness.Piyasa(t, "diagnose", "-n", ns, "-o", "xml").ExpectCode(2)
	out := harness.Piyasa(t, "diagnose", "explain", "PIY401").RunOK().Stdout
	if !strings.Contains(out, "TOTAL_WORKERS") || !strings.Contains(out, "kubectl piyasa scale worker") {
		t.Errorf("explain: %s", out)
	}
}

// TestBundleRedaction plants known secret values in the Secret, a ConfigMap,
// an env literal and a crashing pod's log, and checks that none appears
// anywhere in the unpacked bundle (raw or base64).
func TestBundleRedaction(t *testing.T) {
	ns := harness.Namespace(t, "diag-bundle")
	deployHealthy(t, ns)
	extra := map[string]string{
		"SMTP_PASSWORD":   "planted-smtp-password-55aa-" + harness.Canary,
		"WEBHOOK_URL":     "https://bot:planted-url-password-66bb-" + harness.Canary + "@hooks.example.com/x",
		"GITHUB_TOKEN":    "ghp_plantedGithubToken0123456789abcd",
		"env-literal":     "planted-env-literal-secret-77cc-" + harness.Canary,
		"secret-in-notes": "sk-plantedNotesKey0123456789-" + harness.Canary,
	}
	harness.ApplyYAML(t, ns, fmt.Sprintf(`apiVersion: v1
kind: ConfigMap
metadata: {name: leaky-config}
data:
  SMTP_PASSWORD: %q
  WEBHOOK_URL: %q
  NOTES: "rotate %s soon"
  GITHUB_TOKEN: %q
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: leaky}
spec:
  replicas: 1
  selector: {matchLabels: {app: leaky}}
  template:
    metadata: {labels: {app: leaky}}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 10001, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: c
        image: example/leaky:v1
        securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
        env: [{name: ADMIN_PASSWORD, value: %q}]
`, extra["SMTP_PASSWORD"], extra["WEBHOOK_URL"], extra["secret-in-notes"], extra["GITHUB_TOKEN"], extra["env-literal"]))
	logDir := t.TempDir()
	crashPod(t, ns, "crash-leak", apiLabels, "512Mi", crashLoop("api", "Error", 1, 5))
	prev := criLog(t, logDir, "prev.log", "connecting with password "+planted["DATABASE_PASSWORD"],
		"DATABASE_PASSWORD="+planted["DATABASE_PASSWORD"], "admin "+planted["DEFAULT_ADMIN_PASSWORD"], "key "+planted["OPENAI_API_KEY"])
	harness.ApplyYAML(t, ns, fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: Logs
metadata: {name: crash-leak}
spec: {logs: [{containers: [api], logsFile: %[1]s, previousLogsFile: %[1]s}]}
`, prev))

	out := filepath.Join(t.TempDir(), "bundle.tar.gz")
	res := harness.Piyasa(t, "diagnose", "bundle", "--env", "dev", "-n", ns, "-f", out).RunOK()
	if !strings.Contains(res.Stderr, "wrote "+out) {
		t.Errorf("stderr: %s", res.Stderr)
	}
	files := untar(t, out)
	for _, want := range []string{"report.json", "report.txt", "pods.txt", "events.txt", "README.txt", "objects/secrets/piyasa-secrets.yaml",
		"objects/configmaps/leaky-config.yaml", "objects/deployments/dev-api.yaml", "pods/crash-leak.yaml", "logs/crash-leak/api.previous.log"} {
		if _, ok := files[want]; !ok && !hasSuffixKey(files, want) {
			t.Errorf("bundle lacks %s (has %d files)", want, len(files))
		}
	}
	var values []string
	for _, v := range planted {
		values = append(values, v)
	}
	for _, v := range extra {
		values = append(values, v)
	}
	values = append(values, "planted-url-password-66bb-"+harness.Canary)
	for name, data := range files {
		for _, v := range values {
			for _, form := range []string{v, base64.StdEncoding.EncodeToString([]byte(v)), strings.TrimRight(base64.StdEncoding.EncodeToString([]byte(v)), "=")} {
				if strings.Contains(data, form) {
					t.Errorf("%s holds a planted secret value", name)
				}
			}
		}
	}
	if s := files["objects/secrets/piyasa-secrets.yaml"]; !strings.Contains(s, "DATABASE_PASSWORD: REDACTED") {
		t.Errorf("secret not redacted as documented:\n%s", s)
	}
	if s := files["logs/crash-leak/api.previous.log"]; !strings.Contains(s, "connecting with password") {
		t.Errorf("log content lost:\n%s", s)
	}
	harness.Piyasa(t, "diagnose", "bundle", "--env", "dev", "-n", ns, "-f", out).ExpectCode(2) // exists: no overwrite
}

// tokenKubeconfig writes a kubeconfig for the cluster that authenticates with token only.
func tokenKubeconfig(t *testing.T, token string) string {
	t.Helper()
	cfg := harness.RESTConfig(t)
	ca := cfg.CAData
	if len(ca) == 0 && cfg.CAFile != "" {
		b, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			t.Fatal(err)
		}
		ca = b
	}
	cluster := "    insecure-skip-tls-verify: true\n"
	if len(ca) > 0 {
		cluster = "    certificate-authority-data: " + base64.StdEncoding.EncodeToString(ca) + "\n"
	}
	y := "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: " + cfg.Host + "\n" + cluster +
		"users:\n- name: u\n  user:\n    token: " + token + "\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n"
	p := filepath.Join(t.TempDir(), "reader.kubeconfig")
	if err := os.WriteFile(p, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func hasSuffixKey(m map[string]string, suffix string) bool {
	for k := range m {
		if strings.HasSuffix(k, suffix) {
			return true
		}
	}
	return false
}

func untar(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if st, _ := f.Stat(); st.Mode().Perm() != 0o600 {
		t.Errorf("bundle mode %v, want 0600", st.Mode().Perm())
	}
	all, err := bundle.Read(f)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, bf := range all {
		name := bf.Header.Name
		if i := strings.IndexByte(name, '/'); i >= 0 {
			name = name[i+1:]
		}
		files[name] = string(bf.Data)
	}
	return files
}

func selfSigned(t *testing.T, notBefore, notAfter time.Time) (crtPEM, keyPEM []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "piyasa-chatbot.local"}, NotBefore: notBefore, NotAfter: notAfter, DNSNames: []string{"piyasa-chatbot.local"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

func ingressClass(name, controller string) *networkingv1.IngressClass {
	return &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: networkingv1.IngressClassSpec{Controller: controller}}
}

var _ = corev1.PodRunning

// TestRootCauseFirst (issue 16 #6, #7, #9): postgres at 0 replicas, a deleted
// redis Service and a quota that blocks the api's pods each give their cause,
// with a fix that works, and no finding that contradicts itself.
func TestRootCauseFirst(t *testing.T) {
	ns := harness.Namespace(t, "diag-cause")
	deployHealthy(t, ns)
	harness.Kubectl(t, "scale", "deployment/dev-postgres", "--replicas=0", "-n", ns).RunOK()
	harness.Kubectl(t, "delete", "service", "dev-redis-service", "-n", ns).RunOK()
	harness.Kubectl(t, "wait", "--for=delete", "pod", "-l", "app=postgres", "-n", ns, "--timeout=90s").WithTimeout(2 * time.Minute).RunOK()
	pods, err := harness.Client(t).CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	harness.ApplyYAML(t, ns, fmt.Sprintf("apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q}\nspec: {hard: {pods: \"%d\"}}\n", len(pods.Items)))
	// wait for the quota controller to fill in the usage, then ask for one api pod more than it allows
	harness.Kubectl(t, "wait", "--for=jsonpath={.status.used.pods}", "resourcequota/q", "-n", ns, "--timeout=60s").RunOK()
	harness.Kubectl(t, "scale", "deployment/dev-api", "--replicas=2", "-n", ns).RunOK()
	var rep diagnose.Report
	deadline := time.Now().Add(90 * time.Second)
	for {
		rep = report(t, 1, "--env", "dev", "-n", ns)
		if len(codes(rep)["PIY114"]) > 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(3 * time.Second)
	}
	got := codes(rep)
	find := func(code, obj string) diagnose.Finding {
		for _, f := range got[code] {
			if f.Object.Name == obj {
				return f
			}
		}
		t.Errorf("no %s on %s; have %+v", code, obj, got[code])
		return diagnose.Finding{}
	}
	pg := find("PIY302", "dev-db-service")
	if !strings.Contains(pg.Message, "deployment/dev-postgres has 0 replicas") || !strings.Contains(pg.Fix, "kubectl scale deployment/dev-postgres --replicas=1 -n "+ns) {
		t.Errorf("PIY302 does not name the cause or a working fix: %+v", pg)
	}
	find("PIY113", "dev-postgres")
	find("PIY351", "dev-redis-service")
	if len(got["PIY353"]) != 0 {
		t.Errorf("PIY353 while the host is right and PIY351 reports the missing Service: %+v", got["PIY353"])
	}
	q := diagnose.Finding{}
	for _, f := range got["PIY114"] {
		q = f
	}
	if q.Severity != diagnose.SeverityError || !strings.Contains(q.Message, "exceeded quota: q") || !strings.Contains(q.Fix, "resourcequota q") {
		t.Errorf("the quota is not the error finding: %+v (all: %+v)", q, got["PIY950"])
	}
	// the fix it printed works (with the quota gone, which would block postgres too)
	harness.Kubectl(t, "delete", "resourcequota", "q", "-n", ns).RunOK()
	harness.Kubectl(t, strings.Fields(strings.TrimPrefix(pg.Fix, "kubectl "))...).RunOK()
	harness.Kubectl(t, "rollout", "status", "deployment/dev-postgres", "-n", ns, "--timeout=120s").WithTimeout(3 * time.Minute).RunOK()
	var res harness.Result
	deadline = time.Now().Add(60 * time.Second)
	for {
		res = harness.Piyasa(t, "diagnose", "--env", "dev", "-n", ns, "--only", "PIY302").Run()
		if res.Code == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(3 * time.Second)
	}
	if res.Code != 0 {
		t.Errorf("after the printed fix: exit %d\n%s", res.Code, res.Stdout)
	}
}
