package diagnose

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// healthySnapshot is the dev environment as shipped, healthy: Analyze finds
// nothing in it. Each area's table test breaks one thing at a time.
func healthySnapshot() *Snapshot {
	env := app.Environments["dev"]
	ns := env.Namespace
	no, yes := false, true
	uid := int64(10001)
	i32 := func(v int32) *int32 { return &v }
	res := func(comp string) corev1.ResourceRequirements {
		r := env.Resources[comp]
		return corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(r.CPURequest), corev1.ResourceMemory: resource.MustParse(r.MemoryRequest)},
			Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(r.CPULimit), corev1.ResourceMemory: resource.MustParse(r.MemoryLimit)},
		}
	}
	tmpl := func(comp, image string) corev1.PodTemplateSpec {
		c, _ := app.LookupComponent(comp)
		ctr := corev1.Container{Name: comp, Image: image, ImagePullPolicy: corev1.PullIfNotPresent, Resources: res(comp),
			LivenessProbe:   &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{}}},
			SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			EnvFrom:         []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: env.ConfigMap()}}}}}
		if c.Port != 0 {
			ctr.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{}}}
		}
		if comp == app.API {
			ctr.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz"}}}
		}
		if c.UsesSecret {
			ctr.EnvFrom = append(ctr.EnvFrom, corev1.EnvFromSource{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: env.Secret()}}})
		}
		return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: c.Labels}, Spec: corev1.PodSpec{
			AutomountServiceAccountToken: &no, Containers: []corev1.Container{ctr},
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &uid, SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}}}
	}
	api := "ghcr.io/x/api:v1.2.0"
	pg := tmpl(app.Postgres, "postgres:16-alpine")
	pg.Spec.Volumes = []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "dev-postgres-pvc"}}}}
	deploy := func(comp, image string, n int32) appsv1.Deployment {
		d := appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "dev-" + comp, Namespace: ns}, Spec: appsv1.DeploymentSpec{Replicas: i32(n), Template: tmpl(comp, image)},
			Status: appsv1.DeploymentStatus{Replicas: n, ReadyReplicas: n, AvailableReplicas: n}}
		if comp == app.Postgres {
			d.Spec.Template = pg
			d.Spec.Strategy.Type = appsv1.RecreateDeploymentStrategyType
		}
		return d
	}
	sts := func(comp, image string, n int32) appsv1.StatefulSet {
		return appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "dev-" + comp, Namespace: ns}, Spec: appsv1.StatefulSetSpec{Replicas: i32(n), Template: tmpl(comp, image)},
			Status: appsv1.StatefulSetStatus{Replicas: n, ReadyReplicas: n}}
	}
	svc := func(comp string) *corev1.Service {
		c, _ := app.LookupComponent(comp)
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: env.ServiceName(c)}, Spec: corev1.ServiceSpec{Selector: c.Labels,
			Ports: []corev1.ServicePort{{Name: c.PortName, Port: c.Port}}}}
	}
	hpa := func(comp string) autoscalingv2.HorizontalPodAutoscaler {
		util := int32(70)
		return autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "dev-" + comp + "-hpa"}, Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: app.KindDeployment, Name: "dev-" + comp}, MinReplicas: i32(1), MaxReplicas: 3,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU,
				Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &util}}}}}}
	}
	pdb := func(comp string) policyv1.PodDisruptionBudget {
		c, _ := app.LookupComponent(comp)
		return policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "dev-" + comp + "-pdb"}, Spec: policyv1.PodDisruptionBudgetSpec{Selector: &metav1.LabelSelector{MatchLabels: c.Labels}}}
	}
	secretKeys := map[string]bool{app.KeyOpenAIAPIKey: true}
	for _, k := range app.RequiredSecretKeys {
		secretKeys[k] = true
	}
	nginx := "nginx"
	prefix := networkingv1.PathTypePrefix
	s := &Snapshot{Namespace: ns, Env: env, Now: now, Errs: map[Kind]error{},
		Deployments:  []appsv1.Deployment{deploy(app.API, api, 1), deploy(app.Frontend, "ghcr.io/x/frontend:v1.2.0", 1), deploy(app.Postgres, "postgres:16-alpine", 1)},
		StatefulSets: []appsv1.StatefulSet{sts(app.Worker, api, 2), sts(app.Redis, "redis:7-alpine", 1)},
		Services: map[string]*corev1.Service{"dev-api-service": svc(app.API), "dev-frontend-service": svc(app.Frontend), "dev-db-service": svc(app.Postgres),
			"dev-redis-service": svc(app.Redis), "dev-worker-service": svc(app.Worker)},
		ReadyEndpoints: map[string]int{"dev-api-service": 1, "dev-frontend-service": 1, "dev-db-service": 1, "dev-redis-service": 1, "dev-worker-service": 2},
		ConfigMaps: map[string]map[string]string{env.ConfigMap(): {
			app.KeyDatabaseURL: "postgresql://piyasa_user@dev-db-service:5432/piyasa_db", app.KeyDatabaseHost: "dev-db-service",
			app.KeyRedisURL: "redis://dev-redis-service:6379/0", app.KeyTotalWorkers: "2", app.KeyLLMProvider: "openai", app.KeyPrometheusEnabled: "true"}},
		Secrets: map[string]SecretInfo{env.Secret(): {Type: corev1.SecretTypeOpaque, Keys: secretKeys}},
		HPAs:    []autoscalingv2.HorizontalPodAutoscaler{hpa(app.API), hpa(app.Frontend)},
		Ingresses: []networkingv1.Ingress{{ObjectMeta: metav1.ObjectMeta{Name: "dev-piyasa-ingress"}, Spec: networkingv1.IngressSpec{IngressClassName: &nginx,
			Rules: []networkingv1.IngressRule{{Host: env.Domain, IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{
				{Path: "/", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "dev-frontend-service", Port: networkingv1.ServiceBackendPort{Number: 5173}}}},
				{Path: "/api", PathType: &prefix, Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "dev-api-service", Port: networkingv1.ServiceBackendPort{Number: 8000}}}}}}}}}}}},
		IngressClasses: []networkingv1.IngressClass{{ObjectMeta: metav1.ObjectMeta{Name: "nginx"}, Spec: networkingv1.IngressClassSpec{Controller: ingressNginxController}}},
		PVCs: []corev1.PersistentVolumeClaim{
			{ObjectMeta: metav1.ObjectMeta{Name: "dev-postgres-pvc"}, Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &[]string{"standard"}[0],
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}},
			{ObjectMeta: metav1.ObjectMeta{Name: "redis-data-dev-redis-0"}, Spec: corev1.PersistentVolumeClaimSpec{StorageClassName: &[]string{"standard"}[0]},
				Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}},
		},
		StorageClasses: map[string]storagev1.StorageClass{"standard": {ObjectMeta: metav1.ObjectMeta{Name: "standard"}, AllowVolumeExpansion: &yes}},
		NetworkPolicies: []networkingv1.NetworkPolicy{{ObjectMeta: metav1.ObjectMeta{Name: "default-deny"},
			Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}},
		PDBs:            []policyv1.PodDisruptionBudget{pdb(app.API), pdb(app.Frontend), pdb(app.Worker)},
		ServiceAccounts: map[string]*bool{"default": &no},
		Nodes: []NodeSummary{{Name: "n1", Ready: true, CPUMilli: 4000, MemoryB: 8 << 30}, {Name: "n2", Ready: true, CPUMilli: 4000, MemoryB: 8 << 30},
			{Name: "n3", Ready: true, CPUMilli: 4000, MemoryB: 8 << 30}},
		ServerVersion: "v1.31.0", ServerMinor: 31,
		Metrics: MetricsAPI{Present: true, MetricsAPI: kube.MetricsAPI{Available: true}},
	}
	for _, c := range app.Components {
		for i := int32(0); i < env.Replicas[c.Name]; i++ {
			name := "dev-" + c.Name + "-" + string(rune('a'+i))
			s.Pods = append(s.Pods, summarizePod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: c.Labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: c.Name, Image: "img:v1"}}},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{
					{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(now.Add(-10 * time.Minute))}},
					ContainerStatuses: []corev1.ContainerStatus{{Name: c.Name, Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}}}, now))
		}
	}
	return s
}

// areaCase breaks the healthy snapshot in one way and names the code it must give.
type areaCase struct {
	name   string
	break_ func(s *Snapshot)
	code   string
	// msg, when set, must be in the finding's message; fix in its fix.
	msg, fix string
	// not lists codes that must stay quiet (a contradicting or redundant finding).
	not []string
	cfg Config
}

// runAreaCases checks that the healthy snapshot gives no finding in the area
// and each case gives its code.
func runAreaCases(t *testing.T, area Area, cases []areaCase) {
	t.Helper()
	t.Run("healthy", func(t *testing.T) {
		rep := Analyze(context.Background(), healthySnapshot(), Config{Only: CodeSet(areaCodes(area))}, nil, nil)
		if len(rep.Findings) != 0 {
			t.Errorf("healthy %s: %+v", area, rep.Findings)
		}
		if len(rep.Checks) == 0 {
			t.Errorf("no %s check ran", area)
		}
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := healthySnapshot()
			c.break_(s)
			rep := Analyze(context.Background(), s, c.cfg, nil, nil)
			var got []Finding
			for _, f := range rep.Findings {
				if f.Code == c.code {
					got = append(got, f)
				}
			}
			if len(got) == 0 {
				t.Fatalf("no %s; findings: %s", c.code, findingList(rep))
			}
			match := false
			for _, f := range got {
				match = match || (strings.Contains(f.Message, c.msg) && strings.Contains(f.Fix, c.fix))
			}
			if !match {
				t.Errorf("no %s with %q in its message and %q in its fix: %+v", c.code, c.msg, c.fix, got)
			}
			for _, f := range rep.Findings {
				for _, n := range c.not {
					if f.Code == n {
						t.Errorf("unexpected %s %s: %s (fix: %s)", n, f.Object, f.Message, f.Fix)
					}
				}
			}
		})
	}
}

func areaCodes(a Area) map[string]bool {
	m := map[string]bool{}
	for _, c := range Codes {
		if c.Area == a {
			m[c.ID] = true
		}
	}
	return m
}

func findingList(rep *Report) string {
	var out []string
	for _, f := range rep.Findings {
		out = append(out, f.Code+" "+f.Object.String()+": "+f.Message)
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// TestHealthyGivesNothing: the healthy snapshot passes every check.
func TestHealthyGivesNothing(t *testing.T) {
	rep := Analyze(context.Background(), healthySnapshot(), Config{}, nil, nil)
	if len(rep.Findings) != 0 {
		t.Fatalf("findings on the healthy snapshot:\n%s", findingList(rep))
	}
	if rep.Summary.Score != 100 || rep.Summary.Skipped != 0 || rep.Failing() {
		t.Errorf("summary %+v", rep.Summary)
	}
}

// TestRegistryCoversEveryArea: each area of codes.go has a check in the registry.
func TestRegistryCoversEveryArea(t *testing.T) {
	have := map[Area]bool{}
	for _, c := range checks {
		have[c.area] = true
	}
	for _, a := range areaNames() {
		if !have[Area(a)] {
			t.Errorf("area %s has no check in the registry", a)
		}
	}
}

func appsDeploymentStatusZero() appsv1.DeploymentStatus { return appsv1.DeploymentStatus{} }

// analyzeOnly runs the checks of one area.
func analyzeOnly(s *Snapshot, a Area) *Report {
	return Analyze(context.Background(), s, Config{Only: CodeSet(areaCodes(a))}, nil, nil)
}
