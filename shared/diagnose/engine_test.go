package diagnose

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var now = time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)

func TestCodeTable(t *testing.T) {
	idRE := regexp.MustCompile(`^PIY\d{3}$`)
	for _, c := range Codes {
		if !idRE.MatchString(c.ID) || c.Title == "" || len(c.Explain) < 40 || c.Fix == "" || c.Severity.Rank() == 0 || c.Area == "" {
			t.Errorf("incomplete code %+v", c)
		}
	}
	set, err := ParseCodeSet("PIY1*, database ,PIY401")
	if err != nil || !set["PIY101"] || !set["PIY113"] || !set["PIY305"] || !set["PIY401"] || set["PIY402"] {
		t.Errorf("ParseCodeSet: %v %v", set, err)
	}
	if _, err := ParseCodeSet("PIY999"); err == nil {
		t.Error("unknown code accepted")
	}
}

// trapSnapshot is the app with the known misconfigurations of its first manifests.
func trapSnapshot() *Snapshot {
	env := app.Environments["dev"]
	i32 := func(v int32) *int32 { return &v }
	cont := func(name, image string) corev1.Container {
		return corev1.Container{Name: name, Image: image, ImagePullPolicy: corev1.PullAlways,
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz"}}}}
	}
	tmpl := func(comp string, c corev1.Container) corev1.PodTemplateSpec {
		cc, _ := app.LookupComponent(comp)
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: cc.Labels}, Spec: corev1.PodSpec{Containers: []corev1.Container{c}}}
	}
	pgTmpl := tmpl(app.Postgres, corev1.Container{Name: "postgres", Image: "postgres:16-alpine"})
	pgTmpl.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "dev-postgres-pvc"}}}}
	s := &Snapshot{Namespace: "piyasa-chatbot-dev", Env: env, Now: now, Errs: map[Kind]error{},
		Deployments: []appsv1.Deployment{
			{ObjectMeta: metav1.ObjectMeta{Name: "dev-api"}, Spec: appsv1.DeploymentSpec{Replicas: i32(1), Template: tmpl(app.API, cont("api", "ghcr.io/x/api:latest"))},
				Status: appsv1.DeploymentStatus{ReadyReplicas: 1}},
			{ObjectMeta: metav1.ObjectMeta{Name: "dev-frontend"}, Spec: appsv1.DeploymentSpec{Replicas: i32(1), Template: tmpl(app.Frontend, cont("frontend", "ghcr.io/x/frontend"))},
				Status: appsv1.DeploymentStatus{ReadyReplicas: 1}},
			{ObjectMeta: metav1.ObjectMeta{Name: "dev-postgres"}, Spec: appsv1.DeploymentSpec{Replicas: i32(1), Template: pgTmpl},
				Status: appsv1.DeploymentStatus{ReadyReplicas: 1}},
		},
		StatefulSets: []appsv1.StatefulSet{
			{ObjectMeta: metav1.ObjectMeta{Name: "dev-worker"}, Spec: appsv1.StatefulSetSpec{Replicas: i32(2), Template: tmpl(app.Worker, corev1.Container{Name: "worker", Image: "ghcr.io/x/api:v1.0.0"})},
				Status: appsv1.StatefulSetStatus{ReadyReplicas: 2}},
		},
		Services: map[string]*corev1.Service{
			"dev-api-service":   {ObjectMeta: metav1.ObjectMeta{Name: "dev-api-service"}, Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 8000}}}},
			"dev-db-service":    {ObjectMeta: metav1.ObjectMeta{Name: "dev-db-service"}, Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "postgres"}}},
			"dev-redis-service": {ObjectMeta: metav1.ObjectMeta{Name: "dev-redis-service"}},
		},
		ReadyEndpoints: map[string]int{"dev-api-service": 1, "dev-redis-service": 1},
		ConfigMaps: map[string]map[string]string{"dev-piyasa-config": {
			"DATABASE_URL": "postgresql://piyasa_user:s3cret-in-cm@db-service:5432/piyasa_db", "REDIS_URL": "redis://redis-service:6379/0",
			"TOTAL_WORKERS": "4", "LLM_PROVIDER": "groq"}},
		Secrets: map[string]SecretInfo{
			"piyasa-secrets": {Keys: map[string]bool{"API_KEY": true, "DATABASE_PASSWORD": true}},
			"piyasa-tls":     {Type: corev1.SecretTypeTLS, Keys: map[string]bool{"tls.crt": true}, CertNotAfter: now.Add(5 * 24 * time.Hour)},
		},
		HPAs: []autoscalingv2.HorizontalPodAutoscaler{
			{ObjectMeta: metav1.ObjectMeta{Name: "dev-worker-hpa"}, Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "StatefulSet", Name: "dev-worker"}, MinReplicas: i32(4), MaxReplicas: 12,
				Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType}}}}},
				Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 12, Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{
					{Type: autoscalingv2.ScalingLimited, Status: corev1.ConditionTrue, Reason: "TooManyReplicas", LastTransitionTime: metav1.NewTime(now.Add(-2 * time.Hour))},
					{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, Reason: "FailedGetResourceMetric", Message: "unable to get metrics"}}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "dev-api-hpa"}, Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "dev-api"}, MinReplicas: i32(5), MaxReplicas: 2}},
		},
		Ingresses: []networkingv1.Ingress{{ObjectMeta: metav1.ObjectMeta{Name: "dev-piyasa-ingress", Annotations: map[string]string{
			"nginx.ingress.kubernetes.io/enable-cors": "true", "nginx.ingress.kubernetes.io/cors-allow-origin": "*"}},
			Spec: networkingv1.IngressSpec{IngressClassName: strPtr("nginx"), TLS: []networkingv1.IngressTLS{{SecretName: "piyasa-tls"}},
				Rules: []networkingv1.IngressRule{{Host: "piyasa-chatbot.local", IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{
					Paths: []networkingv1.HTTPIngressPath{{Path: "/", Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "dev-frontend-service", Port: networkingv1.ServiceBackendPort{Number: 5173}}}},
						{Path: "/api", Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "dev-api-service", Port: networkingv1.ServiceBackendPort{Number: 9999}}}}}}}}}}}},
		IngressClasses: []networkingv1.IngressClass{{ObjectMeta: metav1.ObjectMeta{Name: "nginx"}, Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"}}},
		PVCs: []corev1.PersistentVolumeClaim{
			{ObjectMeta: metav1.ObjectMeta{Name: "dev-postgres-pvc"}, Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}},
				Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}},
			{ObjectMeta: metav1.ObjectMeta{Name: "redis-data-dev-redis-0"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimLost}},
		},
		ServiceAccounts: map[string]*bool{},
		Events:          []EventGroup{{Kind: "Pod", Name: "dev-frontend-7c9-x2", Reason: "Unhealthy", Message: "Readiness probe failed: HTTP probe failed with statuscode: 503", Count: 12, Last: now.Add(-time.Minute)}},
		Nodes:           []NodeSummary{{Name: "n1", Ready: true, CPUMilli: 2000, MemoryB: 4 << 30}},
		ServerVersion:   "v1.23.17", ServerMinor: 23,
		Pods: []PodSummary{
			summarizePod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "dev-api-1", Labels: map[string]string{"app": "piyasa-api", "component": "backend"},
				OwnerReferences: []metav1.OwnerReference{{Kind: "ReplicaSet", Name: "dev-api-5d9c", Controller: boolPtr(true)}}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}}}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "api", RestartCount: 4,
					State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: kube.ReasonCrashLoopBackOff}},
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}}}}}}, now),
			summarizePod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "dev-worker-0", Labels: map[string]string{"app": "piyasa-worker", "component": "worker"}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
					ContainerStatuses: []corev1.ContainerStatus{{Name: "worker", RestartCount: 9, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}}, now),
		},
	}
	return s
}

func strPtr(s string) *string { return &s }
func boolPtr(b bool) *bool    { return &b }

func fakeLogs(_ context.Context, pod, container string, previous bool, _ int64) (string, error) {
	if pod == "dev-api-1" && previous {
		return "INFO boot\nKeyError: 'GROQ_API_KEY'\n", nil
	}
	return "", nil
}

// TestTrapsAndGolden: every misconfiguration in the snapshot gives its code, and
// the JSON document matches testdata/report.golden.json (its schema and values).
func TestTrapsAndGolden(t *testing.T) {
	rep := Analyze(context.Background(), trapSnapshot(), Config{}, fakeLogs, nil)
	got := map[string]bool{}
	for _, f := range rep.Findings {
		got[f.Code] = true
	}
	for _, code := range []string{"PIY104", "PIY110", "PIY112", "PIY205", "PIY302", "PIY303", "PIY304", "PIY305", "PIY353", "PIY401", "PIY402",
		"PIY410", "PIY411", "PIY412", "PIY413", "PIY415", "PIY503", "PIY506", "PIY602", "PIY603", "PIY701", "PIY702", "PIY703", "PIY704", "PIY705",
		"PIY801", "PIY803", "PIY804", "PIY805", "PIY901", "PIY902", "PIY903", "PIY904", "PIY905", "PIY950"} {
		if !got[code] {
			t.Errorf("no %s", code)
		}
	}
	for _, code := range []string{"PIY101", "PIY501", "PIY502", "PIY802"} {
		if got[code] {
			t.Errorf("unexpected %s", code)
		}
	}
	if !rep.Failing() || rep.Summary.Errors == 0 || rep.Summary.Score >= 60 {
		t.Errorf("summary %+v", rep.Summary)
	}
	var buf bytes.Buffer
	if err := output.PrintDocument(&buf, output.JSON, "DiagnoseReport", rep); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "s3cret-in-cm") {
		t.Fatal("the ConfigMap password reached the report")
	}
	golden := filepath.Join("testdata", "report.golden.json")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("JSON differs from %s (run go test -run TestTrapsAndGolden -update and review the diff)\n%s", golden, buf.String())
	}
	// schema: top-level and finding keys
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]any) string {
		var k []string
		for x := range m {
			k = append(k, x)
		}
		sort.Strings(k)
		return strings.Join(k, ",")
	}
	if k := keys(doc); k != "apiVersion,checks,environment,failOn,findings,generatedAt,kind,namespace,region,stats,summary" {
		t.Errorf("top-level keys: %s", k)
	}
	f0 := doc["findings"].([]any)[0].(map[string]any)
	if k := keys(f0); k != "code,component,evidence,fix,message,object,severity,title" {
		t.Errorf("finding keys: %s", k)
	}
	if doc["apiVersion"] != "piyasa.io/v1alpha1" || doc["kind"] != "DiagnoseReport" {
		t.Errorf("type meta: %v %v", doc["apiVersion"], doc["kind"])
	}
}

func TestForbiddenSkips(t *testing.T) {
	s := trapSnapshot()
	s.Errs[KindSecrets] = apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "", nil)
	rep := Analyze(context.Background(), s, Config{}, nil, nil)
	for _, c := range rep.Checks {
		if c.Code == "PIY201" || c.Code == "PIY205" || c.Code == "PIY506" {
			if c.Status != StatusSkipped || c.Reason != "forbidden: list secrets" {
				t.Errorf("%s: %+v", c.Code, c)
			}
		}
	}
	var out bytes.Buffer
	if err := PrintTable(&out, rep, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "(forbidden: list secrets)") || !strings.Contains(out.String(), "skipped") {
		t.Errorf("table:\n%s", out.String())
	}
}

func TestClassifyLog(t *testing.T) {
	cases := map[string]string{
		"sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) could not connect to server: Connection refused":  "PIY103",
		`could not translate host name "db-service" to address`:                                                         "PIY103",
		"KeyError: 'TOKEN_ENCRYPTION_KEY'":                                                                              "PIY104",
		"pydantic_core._pydantic_core.ValidationError: 1 validation error for Settings\nDATABASE_URL\n  Field required": "PIY104",
		"openai.AuthenticationError: Error code: 401 - {'error': {'message': 'Incorrect API key provided'}}":            "PIY105",
		"redis.exceptions.ConnectionError: Error 111 connecting to redis-service:6379. Connection refused.":             "PIY106",
		"INFO all good":   "",
		"GET /api 401 OK": "",
	}
	for log, want := range cases {
		if got, _ := ClassifyLog(log); got != want {
			t.Errorf("ClassifyLog(%q) = %q, want %q", log, got, want)
		}
	}
}

func TestParseDF(t *testing.T) {
	out := "Filesystem     1024-blocks    Used Available Capacity Mounted on\n/dev/sdb          10255636 9300000    955636      91% /var/lib/postgresql/data\n"
	if use, mnt, ok := ParseDF(out); !ok || use != 91 || mnt != "/var/lib/postgresql/data" {
		t.Errorf("ParseDF = %d %s %v", use, mnt, ok)
	}
	if _, _, ok := ParseDF("exec: df: not found"); ok {
		t.Error("garbage parsed")
	}
}

func TestClassifyRequest(t *testing.T) {
	cases := []struct{ method, path, verb, res string }{
		{"GET", "/api/v1/namespaces/x/pods", "list", "pods"},
		{"GET", "/api/v1/nodes", "list", "nodes"},
		{"GET", "/apis/apps/v1/namespaces/x/deployments", "list", "deployments.apps"},
		{"GET", "/apis/apps/v1/namespaces/x/deployments/dev-api", "get", "deployments.apps"},
		{"GET", "/api/v1/namespaces/x/pods/p/log", "log", "pods"},
		{"POST", "/api/v1/namespaces/x/pods/p/exec", "exec", "pods"},
		{"GET", "/api/v1/namespaces/x", "get", "namespaces"},
		{"GET", "/version", "get", "/version"},
	}
	for _, c := range cases {
		if v, r := ClassifyRequest(c.method, c.path, false); v != c.verb || r != c.res {
			t.Errorf("%s %s = %s %s, want %s %s", c.method, c.path, v, r, c.verb, c.res)
		}
	}
}

// TestCountingTransport: a paged LIST is one list of several pages.
func TestCountingTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	st := NewRequestStats()
	c := &http.Client{Transport: st.Wrap(http.DefaultTransport)}
	for _, q := range []string{"?limit=2", "?limit=2&continue=abc", "?limit=2&continue=def"} {
		resp, err := c.Get(srv.URL + "/api/v1/namespaces/x/pods" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	got := st.Snapshot()
	if got.Lists["pods"] != 1 || got.Pages["pods"] != 3 || got.Total != 3 {
		t.Errorf("%+v", got)
	}
}

func TestJUnit(t *testing.T) {
	rep := Analyze(context.Background(), trapSnapshot(), Config{FailOn: SeverityError}, nil, nil)
	var b bytes.Buffer
	if err := PrintJUnit(&b, rep); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	if !strings.HasPrefix(s, "<?xml") || !strings.Contains(s, `<failure message="1 finding(s)" type="error">`) || !strings.Contains(s, `name="PIY401 TOTAL_WORKERS differs from worker replicas"`) {
		t.Errorf("junit:\n%s", s)
	}
}

func TestEnvFileKeys(t *testing.T) {
	rep := Analyze(context.Background(), trapSnapshot(), Config{EnvFileKeys: []string{"API_KEY", "DATABASE_PASSWORD", "GROQ_API_KEY"}, Only: CodeSet{"PIY204": true}}, nil, nil)
	if len(rep.Findings) != 1 || rep.Findings[0].Code != "PIY204" || !strings.Contains(strings.Join(rep.Findings[0].Evidence, ";"), "only in the .env: GROQ_API_KEY") {
		t.Errorf("%+v", rep.Findings)
	}
	rep = Analyze(context.Background(), trapSnapshot(), Config{EnvFileKeys: []string{"DATABASE_PASSWORD", "API_KEY"}, Only: CodeSet{"PIY204": true}}, nil, nil)
	if len(rep.Findings) != 0 || rep.Checks[0].Status != StatusPassed {
		t.Errorf("same keys: %+v %+v", rep.Findings, rep.Checks)
	}
}

func TestCertManagerCertificate(t *testing.T) {
	s := trapSnapshot()
	s.CertManager = true
	s.Certificates = []unstructured.Unstructured{{Object: map[string]any{"metadata": map[string]any{"name": "piyasa-tls"},
		"status": map[string]any{"conditions": []any{map[string]any{"type": "Ready", "status": "False", "message": "Issuing certificate as Secret does not exist"}}}}}}
	rep := Analyze(context.Background(), s, Config{Only: CodeSet{"PIY507": true, "PIY804": true}}, nil, nil)
	if len(rep.Findings) != 1 || rep.Findings[0].Code != "PIY507" || !strings.Contains(rep.Findings[0].Message, "Secret does not exist") {
		t.Errorf("%+v", rep.Findings)
	}
}
