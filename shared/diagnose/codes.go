package diagnose

import (
	"fmt"
	"sort"
	"strings"
)

// Severity of a finding.
type Severity string

// Severities, from the most to the least serious.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
	SeverityInfo    Severity = "info"
)

// Rank orders severities: error 3, warning 2, info 1, anything else 0.
func (s Severity) Rank() int {
	switch s {
	case SeverityError:
		return 3
	case SeverityWarning:
		return 2
	case SeverityInfo:
		return 1
	}
	return 0
}

// ParseSeverity accepts error, warning or info.
func ParseSeverity(s string) (Severity, error) {
	switch Severity(strings.ToLower(s)) {
	case SeverityError, SeverityWarning, SeverityInfo:
		return Severity(strings.ToLower(s)), nil
	}
	return "", fmt.Errorf("unknown severity %q: use error, warning or info", s)
}

// Area groups codes by what they look at (the guide's Troubleshooting sections).
type Area string

// Areas, in display order.
const (
	AreaPods          Area = "pods"
	AreaReferences    Area = "references"
	AreaDatabase      Area = "database"
	AreaRedis         Area = "redis"
	AreaWorkers       Area = "workers"
	AreaHPA           Area = "hpa"
	AreaIngress       Area = "ingress"
	AreaStorage       Area = "storage"
	AreaPrerequisites Area = "prerequisites"
	AreaImages        Area = "images"
	AreaSecurity      Area = "security"
	AreaEvents        Area = "events"
	AreaProbes        Area = "probes"
	AreaMonitoring    Area = "monitoring"
)

// Code describes one check: its stable code, severity, title, the long
// explanation printed by `diagnose explain` and the default fix.
type Code struct {
	ID       string   `json:"code"`
	Severity Severity `json:"severity"`
	Area     Area     `json:"area"`
	Title    string   `json:"title"`
	Explain  string   `json:"explain"`
	Fix      string   `json:"fix"`
	// Probe codes run only with --probe.
	Probe bool `json:"probe,omitempty"`
}

// Codes is the one table of diagnose's checks. Codes are stable: never
// renumber; retire a code by leaving it out, never reuse it.
var Codes = []Code{
	// Pods (guide: Troubleshooting, Pod CrashLoopBackOff)
	{ID: "PIY101", Severity: SeverityError, Area: AreaPods, Title: "container in CrashLoopBackOff",
		Explain: "A container keeps exiting and the kubelet restarts it with growing back-off. The finding gives the last termination reason and exit code and the last lines of the previous container's log. When the log shows a known cause, a more precise code (PIY103-PIY106) is reported instead.",
		Fix:     "read the previous log: kubectl logs POD -c CONTAINER --previous -n NS"},
	{ID: "PIY102", Severity: SeverityError, Area: AreaPods, Title: "container OOMKilled",
		Explain: "The container used more memory than its limit and the kernel killed it. The finding names the current memory limit and the patch that raises it (guide: Pod CrashLoopBackOff, cause 4).",
		Fix:     "raise the memory limit (guide, Appendix A)"},
	{ID: "PIY103", Severity: SeverityError, Area: AreaPods, Title: "crash: database unreachable",
		Explain: "The previous container's log shows OperationalError / could not connect: the app cannot reach PostgreSQL. Check the db Service and its endpoints (PIY301, PIY302) and the host in DATABASE_URL (PIY303).",
		Fix:     "kubectl piyasa diagnose --only PIY301,PIY302,PIY303 -n NS"},
	{ID: "PIY104", Severity: SeverityError, Area: AreaPods, Title: "crash: missing setting",
		Explain: "The previous container's log shows a KeyError or a validation error naming a variable: a ConfigMap or Secret key the app needs is absent.",
		Fix:     "add the variable to the .env and run: kubectl piyasa deploy secret rotate --env-file .env -n NS"},
	{ID: "PIY105", Severity: SeverityError, Area: AreaPods, Title: "crash: LLM provider rejected the key",
		Explain: "The previous container's log shows a 401/invalid API key answer from the LLM provider: the key for LLM_PROVIDER in piyasa-secrets is wrong or revoked.",
		Fix:     "put a valid key in the .env and run: kubectl piyasa deploy secret rotate --env-file .env -n NS"},
	{ID: "PIY106", Severity: SeverityError, Area: AreaPods, Title: "crash: Redis connection refused",
		Explain: "The previous container's log shows that Redis refused the connection. Check the redis Service, its endpoints and REDIS_URL (PIY351-PIY353).",
		Fix:     "kubectl piyasa diagnose --only PIY351,PIY352,PIY353 -n NS"},
	{ID: "PIY107", Severity: SeverityError, Area: AreaPods, Title: "image cannot be pulled",
		Explain: "ImagePullBackOff, ErrImagePull or InvalidImageName: the image name or tag is wrong, or the registry needs credentials (imagePullSecrets). The finding names the image; roll back to the last image that ran, or set a pullable tag.",
		Fix:     "go back to the last good image: kubectl piyasa deploy rollback -n NS, or set a pullable tag: kubectl piyasa deploy update --image TAG -n NS"},
	{ID: "PIY108", Severity: SeverityError, Area: AreaPods, Title: "CreateContainerConfigError",
		Explain: "The kubelet cannot build the container's environment: a Secret or ConfigMap, or a key in one, that the pod references is missing. A common case: a CronJob reading DB_PASSWORD or DATABASE_URL from the Secret, which the .env never defines (the Secret holds DATABASE_PASSWORD).",
		Fix:     "add the key to the .env (kubectl piyasa deploy secret rotate --env-file .env) or fix the reference"},
	{ID: "PIY109", Severity: SeverityError, Area: AreaPods, Title: "pod cannot be scheduled",
		Explain: "The pod stays Pending: the scheduler gives the reason (not enough CPU or memory, unbound PersistentVolumeClaim, node selector, taints).",
		Fix:     "kubectl describe pod POD -n NS; add nodes or lower the requests"},
	{ID: "PIY110", Severity: SeverityWarning, Area: AreaPods, Title: "frequent restarts",
		Explain: "A container has restarted 5 times or more although it runs now: it crashes from time to time (memory, dependencies, liveness probe too strict).",
		Fix:     "kubectl logs POD -c CONTAINER --previous -n NS"},
	{ID: "PIY111", Severity: SeverityWarning, Area: AreaPods, Title: "pod running but not ready",
		Explain: "The pod runs but its readiness probe has failed for over a minute, so its Service sends it no traffic. For the api, /readyz fails while the database is unreachable.",
		Fix:     "kubectl describe pod POD -n NS"},
	{ID: "PIY112", Severity: SeverityError, Area: AreaPods, Title: "component workload missing",
		Explain: "A component of the app (api, worker, frontend, postgres, redis) has no Deployment or StatefulSet in the namespace, or the wrong name prefix for the environment.",
		Fix:     "kubectl piyasa deploy --env ENV -n NS --env-file .env"},
	{ID: "PIY113", Severity: SeverityWarning, Area: AreaPods, Title: "workload not fully available",
		Explain: "A Deployment or StatefulSet has fewer ready replicas than desired, or a workload the app needs (api, worker, frontend, postgres, redis) is scaled to 0 replicas. The pod findings above it usually say why.",
		Fix:     "kubectl piyasa deploy status -n NS"},
	{ID: "PIY114", Severity: SeverityError, Area: AreaPods, Title: "pods cannot be created",
		Explain: "A ReplicaSet, StatefulSet or Job cannot create its pods (FailedCreate events): a ResourceQuota or LimitRange refuses them, or an admission policy forbids them. No pod exists, so nothing else can become ready; this is the cause of the missing endpoints reported with it.",
		Fix:     "kubectl describe resourcequota -n NS; raise the quota, or lower the replicas or requests"},

	{ID: "PIY115", Severity: SeverityError, Area: AreaPods, Title: "app scaled to 0: it serves nothing",
		Explain: "The api or frontend Deployment has spec.replicas 0: no pod serves the app's users. An HPA does not scale a workload up from 0 (its ScalingActive is False, ScalingDisabled), so it stays down until it is scaled by hand or the interrupted restore that stopped it (PIY120) is finished.",
		Fix:     "kubectl scale deployment/NAME --replicas=N -n NS (or finish the restore of PIY120)"},
	{ID: "PIY120", Severity: SeverityError, Area: AreaPods, Title: "restore interrupted",
		Explain: "A live restore (kubectl piyasa backup restore) stops the api and the workers, records what it restores and their replicas in the annotations piyasa.io/restore-in-progress and piyasa.io/replicas-before-restore, and removes them when it starts the app again. A workload at 0 replicas with these annotations was stopped by a restore that did not finish (killed, lost its connection): the app serves nothing. The finding says when, from which backup, and the two ways on: the same restore again (it finishes and brings the app back at the recorded counts) or the restore of the safety backup (the database as it was). Scaling the workers by hand instead would start them on a database of unknown state; the worker fixes of PIY113 and PIY401 point here meanwhile.",
		Fix:     "kubectl piyasa backup restore BACKUP -n NS --env ENV --yes (the same restore again; the finding names it)"},

	// References
	{ID: "PIY201", Severity: SeverityError, Area: AreaReferences, Title: "secretKeyRef does not resolve",
		Explain: "A container's env reads a key from a Secret that does not exist or lacks that key: the pod stops in CreateContainerConfigError.",
		Fix:     "add the key to the .env and run: kubectl piyasa deploy secret rotate --env-file .env -n NS"},
	{ID: "PIY202", Severity: SeverityError, Area: AreaReferences, Title: "configMapKeyRef does not resolve",
		Explain: "A container's env reads a key from a ConfigMap that does not exist or lacks that key.",
		Fix:     "kubectl piyasa deploy --env ENV -n NS --env-file .env (restores piyasa-config)"},
	{ID: "PIY203", Severity: SeverityError, Area: AreaReferences, Title: "envFrom source missing",
		Explain: "A container takes its whole environment from a Secret or ConfigMap that does not exist.",
		Fix:     "kubectl piyasa deploy --env ENV -n NS --env-file .env"},
	{ID: "PIY204", Severity: SeverityWarning, Area: AreaReferences, Title: ".env and Secret keys differ",
		Explain: "With --env-file, the key NAMES of the file are compared with the keys of piyasa-secrets (values are never read or printed). A key only in the file was never uploaded; a key only in the Secret is stale.",
		Fix:     "kubectl piyasa deploy secret rotate --env-file .env -n NS"},
	{ID: "PIY205", Severity: SeverityError, Area: AreaReferences, Title: "required Secret key missing",
		Explain: "The Secret the app's pods read (piyasa-secrets, or the one their envFrom names) lacks a key the app needs: API_KEY, TOKEN_ENCRYPTION_KEY, DATABASE_PASSWORD, the DEFAULT_ADMIN_* keys, and the LLM key for LLM_PROVIDER (OPENAI_API_KEY, GROQ_API_KEY or GEMINI_API_KEY).",
		Fix:     "add the missing key to the .env the app was deployed with (keep its other values), then: kubectl piyasa deploy secret rotate --env-file .env -n NS"},

	// Database (guide: Database Connection Failures)
	{ID: "PIY301", Severity: SeverityError, Area: AreaDatabase, Title: "database Service missing",
		Explain: "The db Service (db-service with the environment's prefix) does not exist, so DATABASE_URL cannot resolve.",
		Fix:     "kubectl piyasa deploy --env ENV -n NS --env-file .env"},
	{ID: "PIY302", Severity: SeverityError, Area: AreaDatabase, Title: "database Service has no ready endpoints",
		Explain: "The db Service selects no ready PostgreSQL pod: the pod is down, not ready, or the selector does not match its labels.",
		Fix:     "kubectl rollout restart deployment/DB -n NS (guide: Restart DB pod)"},
	{ID: "PIY303", Severity: SeverityError, Area: AreaDatabase, Title: "DATABASE_URL host is not a Service here",
		Explain: "The host in DATABASE_URL does not name a Service of the namespace: the environment prefix (dev-) renames the Services, so a URL that keeps the unprefixed db-service resolves nowhere. When the host already is the expected Service and only the Service is missing, PIY301 reports it instead.",
		Fix:     "kubectl piyasa deploy config set DATABASE_URL=postgresql://piyasa_user@PREFIX-db-service:5432/piyasa_db -n NS (the finding names the Service)"},
	{ID: "PIY304", Severity: SeverityError, Area: AreaDatabase, Title: "password in the ConfigMap",
		Explain: "A ConfigMap value holds a password (a URL with user:password@, or a key named like PASSWORD/TOKEN/SECRET). ConfigMaps are not secret: anyone who may read them sees the value. Keep the password in piyasa-secrets (DATABASE_PASSWORD).",
		Fix:     "remove the password from the ConfigMap and keep it in the Secret: kubectl piyasa deploy --env ENV -n NS --env-file .env"},
	{ID: "PIY305", Severity: SeverityError, Area: AreaDatabase, Title: "PostgreSQL rolls with a ReadWriteOnce volume",
		Explain: "PostgreSQL runs as a Deployment with a ReadWriteOnce PVC and the RollingUpdate strategy: the new pod cannot attach the volume while the old one holds it, so every update hangs. Use strategy Recreate.",
		Fix:     "kubectl patch deployment DB -n NS -p '{\"spec\":{\"strategy\":{\"type\":\"Recreate\",\"rollingUpdate\":null}}}'"},

	// Redis
	{ID: "PIY351", Severity: SeverityError, Area: AreaRedis, Title: "Redis Service missing",
		Explain: "The redis Service does not exist, so REDIS_URL cannot resolve.",
		Fix:     "kubectl piyasa deploy --env ENV -n NS --env-file .env"},
	{ID: "PIY352", Severity: SeverityError, Area: AreaRedis, Title: "Redis Service has no ready endpoints",
		Explain: "The redis Service selects no ready Redis pod.",
		Fix:     "kubectl rollout restart statefulset/REDIS -n NS"},
	{ID: "PIY353", Severity: SeverityError, Area: AreaRedis, Title: "REDIS_URL host is not a Service here",
		Explain: "The host in REDIS_URL does not name a Service of the namespace: the environment prefix (dev-) renames the Services, so a URL that keeps the unprefixed redis-service resolves nowhere. When the host already is the expected Service and only the Service is missing, PIY351 reports it instead.",
		Fix:     "kubectl piyasa deploy config set REDIS_URL=redis://PREFIX-redis-service:6379/0 -n NS (the finding names the Service)"},

	// Workers
	{ID: "PIY401", Severity: SeverityError, Area: AreaWorkers, Title: "TOTAL_WORKERS differs from worker replicas",
		Explain: "Each worker takes WORKER_ID from its pod name and TOTAL_WORKERS from the ConfigMap. When they differ, some shards have no owner or two owners.",
		Fix:     "kubectl piyasa scale worker N -n NS (changes TOTAL_WORKERS and the replicas together)"},
	{ID: "PIY402", Severity: SeverityError, Area: AreaWorkers, Title: "HPA scales the workers",
		Explain: "An HPA targets the worker StatefulSet while TOTAL_WORKERS is fixed in the ConfigMap: each scale event breaks the sharding (shards with no owner or two). Workers are scaled by hand, with kubectl piyasa scale worker, once the HPA is gone.",
		Fix:     "kubectl delete hpa HPA -n NS; then kubectl piyasa scale worker N -n NS"},

	// HPA (guide: HPA Not Scaling)
	{ID: "PIY410", Severity: SeverityError, Area: AreaHPA, Title: "HPA without a metrics API",
		Explain: "The HPA shows <unknown> because the metrics.k8s.io APIService is missing or not Available (metrics-server not installed or not healthy).",
		Fix:     "install metrics-server (guide, Required Add-ons), then: kubectl top pods -n NS"},
	{ID: "PIY411", Severity: SeverityError, Area: AreaHPA, Title: "HPA target has no resource requests",
		Explain: "A Utilization target is a percentage of the containers' requests; containers without a request for that resource give <unknown>.",
		Fix:     "set requests (guide, Appendix A): kubectl piyasa deploy --env ENV -n NS --env-file .env"},
	{ID: "PIY412", Severity: SeverityWarning, Area: AreaHPA, Title: "HPA cannot scale",
		Explain: "The HPA's ScalingActive or AbleToScale condition is False; its message says why (failed to get metrics, target missing, ...).",
		Fix:     "kubectl describe hpa HPA -n NS"},
	{ID: "PIY413", Severity: SeverityError, Area: AreaHPA, Title: "HPA minReplicas above maxReplicas",
		Explain: "minReplicas is greater than maxReplicas.",
		Fix:     "kubectl piyasa scale hpa COMPONENT --min N --max M -n NS"},
	{ID: "PIY414", Severity: SeverityError, Area: AreaHPA, Title: "HPA target missing",
		Explain: "The HPA's scaleTargetRef names a workload that does not exist in the namespace.",
		Fix:     "kubectl delete hpa HPA -n NS, or fix scaleTargetRef"},
	{ID: "PIY415", Severity: SeverityWarning, Area: AreaHPA, Title: "HPA at maximum for long",
		Explain: "The HPA has been at maxReplicas (ScalingLimited) for over 30 minutes: the load needs more replicas than allowed.",
		Fix:     "kubectl piyasa scale hpa COMPONENT --max M -n NS"},

	// Ingress (guide: Ingress Not Working)
	{ID: "PIY501", Severity: SeverityWarning, Area: AreaIngress, Title: "no IngressClass in the cluster",
		Explain: "The cluster has no IngressClass at all: no ingress controller is installed, so the Ingress is not served (guide, Required Add-ons: NGINX Ingress Controller).",
		Fix:     "install ingress-nginx (guide, Required Add-ons)"},
	{ID: "PIY502", Severity: SeverityError, Area: AreaIngress, Title: "Ingress class matches no IngressClass",
		Explain: "The Ingress's ingressClassName names no IngressClass of the cluster (and none is the default): no controller serves it.",
		Fix:     "kubectl get ingressclass; set spec.ingressClassName to one of them"},
	{ID: "PIY503", Severity: SeverityError, Area: AreaIngress, Title: "Ingress backend missing",
		Explain: "An Ingress rule points at a Service, or a port of it, that does not exist.",
		Fix:     "kubectl piyasa deploy --env ENV -n NS --env-file .env"},
	{ID: "PIY504", Severity: SeverityError, Area: AreaIngress, Title: "TLS secret missing",
		Explain: "The Ingress's tls section names a Secret that does not exist: cert-manager has not issued it, or it was deleted.",
		Fix:     "create the TLS Secret: kubectl create secret tls SECRET --cert=tls.crt --key=tls.key -n NS (with cert-manager installed, kubectl describe certificate -n NS says why it was not issued)"},
	{ID: "PIY505", Severity: SeverityError, Area: AreaIngress, Title: "TLS certificate expired or unreadable",
		Explain: "The certificate in the TLS secret is past its notAfter date, or tls.crt is not a PEM certificate.",
		Fix:     "renew the certificate in the TLS Secret: with cert-manager, kubectl delete secret TLS -n NS reissues it (guide, Certificate Renewal)"},
	{ID: "PIY506", Severity: SeverityWarning, Area: AreaIngress, Title: "TLS certificate expires within 14 days",
		Explain: "The certificate in the TLS secret expires in under 14 days and has not been renewed.",
		Fix:     "renew the certificate in the TLS Secret (guide, Certificate Renewal)"},
	{ID: "PIY507", Severity: SeverityWarning, Area: AreaIngress, Title: "cert-manager Certificate not Ready",
		Explain: "A cert-manager Certificate of the namespace has Ready False; its message says why.",
		Fix:     "kubectl describe certificate NAME -n NS"},

	// Storage (guide: Out of Disk Space)
	{ID: "PIY601", Severity: SeverityError, Area: AreaStorage, Title: "PVC Pending",
		Explain: "The PersistentVolumeClaim is not bound: no StorageClass or provisioner, or no matching PersistentVolume. Pods using it stay Pending.",
		Fix:     "kubectl describe pvc PVC -n NS; set a default StorageClass or create a matching PV"},
	{ID: "PIY602", Severity: SeverityError, Area: AreaStorage, Title: "PVC Lost",
		Explain: "The PersistentVolume of the claim is gone: the claim cannot be mounted, and its data must be restored from a backup into a new claim.",
		Fix:     "kubectl describe pvc PVC -n NS; recreate the claim (kubectl delete pvc PVC -n NS, then kubectl piyasa deploy --env ENV -n NS --env-file .env) and restore the data from your backup"},
	{ID: "PIY603", Severity: SeverityInfo, Area: AreaStorage, Title: "volume cannot be expanded",
		Explain: "The PVC's StorageClass does not set allowVolumeExpansion (or the PVC has none), so `kubectl patch pvc` cannot grow it when the disk fills: a new, larger PVC and a migration are needed.",
		Fix:     "use a StorageClass with allowVolumeExpansion: true"},

	// Prerequisites (guide: Prerequisites, Required Add-ons)
	{ID: "PIY801", Severity: SeverityError, Area: AreaPrerequisites, Title: "Kubernetes older than 1.24",
		Explain: "The guide requires Kubernetes 1.24 or newer.",
		Fix:     "upgrade the cluster"},
	{ID: "PIY802", Severity: SeverityWarning, Area: AreaPrerequisites, Title: "ingress-nginx not found",
		Explain: "No IngressClass with controller k8s.io/ingress-nginx and no ingress-nginx pods: the Ingress is not served on this cluster.",
		Fix:     "install ingress-nginx (guide, Required Add-ons)"},
	{ID: "PIY803", Severity: SeverityWarning, Area: AreaPrerequisites, Title: "metrics-server not available",
		Explain: "The metrics.k8s.io APIService is missing or not Available: kubectl top and HPAs do not work.",
		Fix:     "install metrics-server (guide, Required Add-ons)"},
	{ID: "PIY804", Severity: SeverityWarning, Area: AreaPrerequisites, Title: "cert-manager missing while TLS is used",
		Explain: "The Ingress terminates TLS but the cert-manager CRDs are not installed: nobody issues or renews the certificate.",
		Fix:     "install cert-manager (guide, Required Add-ons)"},
	{ID: "PIY805", Severity: SeverityWarning, Area: AreaPrerequisites, Title: "cluster below the guide's minimum",
		Explain: "The guide recommends 3 worker nodes with 4 CPU and 8 GB of memory each.",
		Fix:     "add nodes"},

	// Monitoring (guide: Prometheus & Grafana Integration)
	{ID: "PIY851", Severity: SeverityWarning, Area: AreaMonitoring, Title: "api Service does not name the metrics port",
		Explain: "Prometheus scrapes the api through the guide's ServiceMonitor, which selects the api Service's port by name (http) and GETs /metrics. The api Service has no named port that reaches the api's metrics port (PROMETHEUS_PORT of piyasa-config, 8000 by default), so the ServiceMonitor finds nothing to scrape.",
		Fix:     "kubectl piyasa deploy --env ENV -n NS --env-file .env (the manifests' api Service names port http)"},
	{ID: "PIY852", Severity: SeverityWarning, Area: AreaMonitoring, Title: "PROMETHEUS_ENABLED is off",
		Explain: "piyasa-config sets PROMETHEUS_ENABLED to something other than true (or leaves it out): the api serves no /metrics and Prometheus scrapes nothing. When piyasa-secrets also holds PROMETHEUS_ENABLED, that value wins in the pods (diagnose does not read it).",
		Fix:     "kubectl piyasa deploy config set PROMETHEUS_ENABLED=true -n NS"},
	{ID: "PIY853", Severity: SeverityWarning, Area: AreaMonitoring, Probe: true, Title: "api /metrics does not answer",
		Explain: "GET /metrics on the api's metrics port, through the API server's pod proxy, answered an error status or something that is not the Prometheus text format. When the proxy itself cannot reach the pod, PIY979 reports it instead.",
		Fix:     "kubectl logs POD -n NS; check PROMETHEUS_ENABLED and PROMETHEUS_PORT in piyasa-config"},

	// Images and probes
	{ID: "PIY701", Severity: SeverityWarning, Area: AreaImages, Title: "mutable image tag",
		Explain: "An image is tagged :latest (or untagged) or pulled with imagePullPolicy Always: a rollback to the same tag brings back nothing, and nodes may run different builds. Use versioned tags and IfNotPresent.",
		Fix:     "kubectl piyasa deploy update --image VERSION -n NS"},
	{ID: "PIY702", Severity: SeverityError, Area: AreaImages, Title: "api and worker on different images",
		Explain: "The worker runs the api image with another command; different images mean version skew between the two (schema, task format).",
		Fix:     "kubectl piyasa deploy update --image VERSION -n NS (sets both)"},
	{ID: "PIY703", Severity: SeverityError, Area: AreaImages, Title: "api readiness not on /readyz",
		Explain: "The api's readiness probe must GET /readyz, which fails while the database is unreachable; /healthz (liveness) keeps pods without a database in the Service.",
		Fix:     "kubectl piyasa deploy --env ENV -n NS --env-file .env"},
	{ID: "PIY704", Severity: SeverityWarning, Area: AreaImages, Title: "probe missing",
		Explain: "A long-running container has no readiness or liveness probe.",
		Fix:     "kubectl piyasa deploy --env ENV -n NS --env-file .env"},
	{ID: "PIY705", Severity: SeverityWarning, Area: AreaImages, Title: "requests or limits missing",
		Explain: "A container sets no CPU or memory request or limit: the scheduler cannot place it well, HPAs cannot compute utilization, and it can starve its neighbours (guide, Appendix A).",
		Fix:     "kubectl piyasa deploy --env ENV -n NS --env-file .env"},

	// Security (guide: Security)
	{ID: "PIY901", Severity: SeverityWarning, Area: AreaSecurity, Title: "no NetworkPolicy",
		Explain: "The namespace has no NetworkPolicy, or none that denies by default: every pod can reach PostgreSQL and Redis (guide: Network Policies).",
		Fix:     "kubectl piyasa deploy --env ENV -n NS --env-file .env"},
	{ID: "PIY902", Severity: SeverityWarning, Area: AreaSecurity, Title: "pod not restricted",
		Explain: "The pod template does not run as non-root with the restricted profile: runAsNonRoot, seccompProfile RuntimeDefault, allowPrivilegeEscalation false, capabilities drop ALL (guide: Pod Security Standards).",
		Fix:     "kubectl piyasa deploy --env ENV -n NS --env-file .env"},
	{ID: "PIY903", Severity: SeverityWarning, Area: AreaSecurity, Title: "service-account token mounted",
		Explain: "The pods mount a service-account token they do not need: set automountServiceAccountToken: false on the pod or its ServiceAccount.",
		Fix:     "kubectl piyasa deploy --env ENV -n NS --env-file .env"},
	{ID: "PIY904", Severity: SeverityError, Area: AreaSecurity, Title: "CORS allows any origin",
		Explain: "The Ingress sets nginx.ingress.kubernetes.io/cors-allow-origin to * (or leaves it unset with CORS enabled): any site can call the API with the user's browser.",
		Fix:     "set cors-allow-origin to the frontend's origin: kubectl piyasa deploy --env ENV -n NS --env-file .env"},
	{ID: "PIY905", Severity: SeverityWarning, Area: AreaSecurity, Title: "no PodDisruptionBudget",
		Explain: "A scalable component (api, frontend, worker) has no PodDisruptionBudget: a node drain can stop all its pods at once.",
		Fix:     "kubectl piyasa deploy --env ENV -n NS --env-file .env"},

	// Events
	{ID: "PIY950", Severity: SeverityWarning, Area: AreaEvents, Title: "warning events in the last hour",
		Explain: "Warning events of the last hour, grouped by object and reason, with their count and latest message.",
		Fix:     "kubectl get events -n NS --field-selector type=Warning"},

	// Live probes (--probe)
	{ID: "PIY971", Severity: SeverityError, Area: AreaProbes, Probe: true, Title: "PostgreSQL not accepting connections",
		Explain: "pg_isready inside the PostgreSQL pod did not report \"accepting connections\".",
		Fix:     "kubectl logs deploy/DB -n NS; kubectl rollout restart deployment/DB -n NS"},
	{ID: "PIY972", Severity: SeverityError, Area: AreaProbes, Probe: true, Title: "Redis does not answer PING",
		Explain: "redis-cli ping inside the Redis pod did not answer PONG.",
		Fix:     "kubectl logs statefulset/REDIS -n NS"},
	{ID: "PIY973", Severity: SeverityError, Area: AreaProbes, Probe: true, Title: "api /readyz fails",
		Explain: "GET /readyz through the API server's pod proxy did not return 200: the pod is up but cannot serve (usually the database).",
		Fix:     "kubectl piyasa diagnose --only PIY103,PIY301,PIY302,PIY303 -n NS"},
	{ID: "PIY974", Severity: SeverityWarning, Area: AreaProbes, Probe: true, Title: "volume over 80% full",
		Explain: "df in the PostgreSQL or Redis pod shows the data volume over 80% used (guide: Out of Disk Space).",
		Fix:     "kubectl patch pvc PVC -n NS -p '{\"spec\":{\"resources\":{\"requests\":{\"storage\":\"20Gi\"}}}}'"},
	{ID: "PIY975", Severity: SeverityError, Area: AreaProbes, Probe: true, Title: "volume over 90% full",
		Explain: "df in the PostgreSQL or Redis pod shows the data volume over 90% used: writes will fail soon (guide: Out of Disk Space).",
		Fix:     "kubectl patch pvc PVC -n NS -p '{\"spec\":{\"resources\":{\"requests\":{\"storage\":\"20Gi\"}}}}'"},
	{ID: "PIY976", Severity: SeverityWarning, Area: AreaProbes, Probe: true, Title: "Ingress host does not resolve",
		Explain: "An Ingress host has no DNS record reachable from this machine (guide: Ingress Not Working, cause 2).",
		Fix:     "nslookup HOST; create the DNS record pointing at the ingress controller"},
	{ID: "PIY977", Severity: SeverityError, Area: AreaProbes, Probe: true, Title: "WAL archive volume over 85% full",
		Explain: "df in the PostgreSQL pod shows the WAL archive volume (postgres-wal-archive) over 85% used. When it is full archive_command fails, PostgreSQL keeps the WAL it could not archive in its data volume and stops when that fills too. (PIY974/PIY975 do not look at this volume.)",
		Fix:     "kubectl piyasa backup wal sync --to s3://BUCKET/PREFIX -n NS, then remove the synced segments, or enlarge the PVC"},
	{ID: "PIY978", Severity: SeverityError, Area: AreaProbes, Probe: true, Title: "WAL archiving failing",
		Explain: "pg_stat_archiver in the PostgreSQL pod shows a failure newer than the last successful archive: finished WAL segments pile up in the data volume and point-in-time recovery loses everything after the last archived segment.",
		Fix:     "kubectl logs deploy/DB -n NS (the archive_command's error); kubectl piyasa backup status -n NS"},
	{ID: "PIY980", Severity: SeverityError, Area: AreaProbes, Probe: true, Title: "gap in the WAL archive",
		Explain: "The WAL archive in the PostgreSQL pod (postgres-wal-archive) misses segments between its oldest and newest: a point-in-time restore replays WAL in order and stops at the first missing segment, so no point after it can be reached from a base backup before it. The chain is read as `backup status` reads it (timeline switches follow history files).",
		Fix:     "kubectl piyasa backup create --physical -n NS (a base backup after the gap); kubectl piyasa backup status -n NS --to s3://BUCKET/PREFIX"},
	{ID: "PIY982", Severity: SeverityWarning, Area: AreaProbes, Probe: true, Title: "recovery window shorter than the retention asks",
		Explain: "The base backups are kept (backup schedule set --physical --keep-base, backup prune --keep-base-*) so that a point-in-time restore can start from them, but the WAL archive in the PostgreSQL pod no longer holds the segment where the newest one starts (PostgreSQL archives a backup history file, START.OFFSET.backup, at the end of each base backup): from the cluster's archive no point-in-time restore is possible until the next base backup. backup status --dir|--to checks the same for every base backup kept in a place.",
		Fix:     "kubectl piyasa backup create --physical -n NS (a new base backup); kubectl piyasa backup status -n NS --to s3://BUCKET/PREFIX"},
	{ID: "PIY983", Severity: SeverityWarning, Area: AreaProbes, Probe: true, Title: "standby replication lag over its limit",
		Explain: "Streaming replication read in the PostgreSQL pod (pg_stat_replication on a primary, the WAL receiver and the replayed position on a standby) shows a standby whose replay lags more than 16 MiB (one WAL segment) or 60 s behind its primary: a failover to it now would lose, or wait for, that much. Seconds on a standby count from the last replayed commit, but are 0 once it has replayed all the primary sent (an idle primary commits nothing). A paused replay (pg_wal_replay_pause) is named.",
		Fix:     "kubectl piyasa deploy status -n NS (the replication line); a paused replay: SELECT pg_wal_replay_resume() on the standby; otherwise the network to the primary and the standby's disk and CPU"},
	{ID: "PIY981", Severity: SeverityWarning, Area: AreaDatabase, Title: "no recent scheduled base backup",
		Explain: "The base backup CronJob (backup schedule set --physical) has not succeeded for two of its scheduled intervals (at least 48 hours), or never since it was made: a point-in-time restore starts from an older base backup and replays ever more WAL, and the WAL archive cannot be pruned past the newest base backup.",
		Fix:     "kubectl piyasa backup schedule run-now --physical -n NS (prints the Job's log); kubectl piyasa backup schedule show -n NS"},
	{ID: "PIY990", Severity: SeverityError, Area: AreaWorkers, Title: "workers run in more than one region",
		Explain: "Across the regions of a fleet (diagnose --fleet), the worker StatefulSet has replicas or running pods in more than one region. The workers shard the work by TOTAL_WORKERS and their ordinal: a worker in each region with the same ordinal owns the same shard, so the work is done twice (or fought over). Workers run in the primary region only; a standby's are at 0.",
		Fix:     "kubectl piyasa scale worker=0 --env ENV --context STANDBY (the regions the finding names, but the primary)"},
	{ID: "PIY991", Severity: SeverityError, Area: AreaDatabase, Probe: true, Title: "more than one writable database (split brain)",
		Explain: "Across the regions of a fleet (diagnose --fleet --probe), the database of more than one region is not in recovery: each accepts writes, and what is written in one never reaches the other. It happens when a standby is promoted while the old primary still runs (a failover without fencing).",
		Fix:     "stop the app writing to the region that must not be primary (kubectl piyasa scale api=0 worker=0 --context OLD), then make its database follow the new primary (kubectl piyasa failover rejoin)"},
	{ID: "PIY992", Severity: SeverityWarning, Area: AreaWorkers, Title: "TOTAL_WORKERS differs between regions",
		Explain: "Across the regions of a fleet (diagnose --fleet), the app ConfigMap's TOTAL_WORKERS is not the same in every region that runs workers or keeps a count for them (a region scaled to 0 workers has TOTAL_WORKERS 0 and is left out): after a failover the workers of the new primary would shard the work differently, and shards would be skipped or done twice until every worker restarted.",
		Fix:     "kubectl piyasa scale worker=N --context CONTEXT in the regions that differ (it sets TOTAL_WORKERS with the replicas), or set it in the fleet's overlays"},
	{ID: "PIY979", Severity: SeverityWarning, Area: AreaProbes, Probe: true, Title: "live probe could not run",
		Explain: "An exec or proxy probe could not be run (no running pod, exec refused, the API server refused the pod proxy or exec with 401/403, timeout); its result is unknown. The finding names the probe's command to run by hand.",
		Fix:     "the command the finding names (kubectl exec, or kubectl get pods when no pod runs)"},
}

var codeIndex = func() map[string]*Code {
	m := make(map[string]*Code, len(Codes))
	for i := range Codes {
		if _, dup := m[Codes[i].ID]; dup {
			panic("duplicate diagnose code " + Codes[i].ID)
		}
		m[Codes[i].ID] = &Codes[i]
	}
	return m
}()

// LookupCode returns the code's description.
func LookupCode(id string) (Code, bool) {
	c, ok := codeIndex[strings.ToUpper(id)]
	if !ok {
		return Code{}, false
	}
	return *c, true
}

// CodeIDs returns every code, sorted.
func CodeIDs() []string {
	ids := make([]string, 0, len(Codes))
	for _, c := range Codes {
		ids = append(ids, c.ID)
	}
	sort.Strings(ids)
	return ids
}

// CodeSet selects codes by exact code (PIY101), prefix with * (PIY1*), or area name (pods).
type CodeSet map[string]bool

// ParseCodeSet parses a comma-separated list of codes, code prefixes ending in *, and area names.
func ParseCodeSet(spec string) (CodeSet, error) {
	set := CodeSet{}
	for _, raw := range strings.Split(spec, ",") {
		item := strings.TrimSpace(raw)
		if item == "" {
			continue
		}
		n := 0
		for _, c := range Codes {
			if matchCode(c, item) {
				set[c.ID] = true
				n++
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("%q matches no diagnose code: use codes such as PIY101, prefixes such as PIY1*, or areas (%s); see 'kubectl piyasa diagnose explain'", item, strings.Join(areaNames(), ", "))
		}
	}
	return set, nil
}

func matchCode(c Code, item string) bool {
	u := strings.ToUpper(item)
	if strings.HasSuffix(u, "*") {
		return strings.HasPrefix(c.ID, strings.TrimSuffix(u, "*"))
	}
	return c.ID == u || strings.EqualFold(string(c.Area), item)
}

func areaNames() []string {
	seen := map[Area]bool{}
	var out []string
	for _, c := range Codes {
		if !seen[c.Area] {
			seen[c.Area] = true
			out = append(out, string(c.Area))
		}
	}
	return out
}
