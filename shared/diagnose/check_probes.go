package diagnose

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

// ProbeTimeout bounds each live probe (exec, proxy GET, DNS lookup).
const ProbeTimeout = 10 * time.Second

// Prober runs the live probes of --probe.
type Prober interface {
	// Exec runs cmd in a container and returns what it printed. A non-nil
	// error with output is normal on kwok (exit codes are not passed
	// through): callers judge the output.
	Exec(ctx context.Context, pod, container string, cmd []string) (string, error)
	// ProxyGet GETs path on the pod's port through the API server's pod proxy.
	ProxyGet(ctx context.Context, pod, port, path string) (string, error)
	// LookupHost resolves a DNS name.
	LookupHost(ctx context.Context, host string) ([]string, error)
}

// KubeProber is the Prober of a real cluster.
type KubeProber struct {
	Kube      kubernetes.Interface
	Config    *rest.Config
	Namespace string
}

// Exec runs cmd with kube.Exec, bounded by ctx.
func (p *KubeProber) Exec(ctx context.Context, pod, container string, cmd []string) (string, error) {
	// stdout and stderr are copied by separate goroutines: one buffer each
	var stdout, stderr bytes.Buffer
	err := kube.Exec(ctx, p.Config, p.Kube, p.Namespace, pod, container, cmd, kube.ExecStreams{Stdout: &stdout, Stderr: &stderr})
	return stdout.String() + stderr.String(), err
}

// ProxyGet GETs through pods/proxy.
func (p *KubeProber) ProxyGet(ctx context.Context, pod, port, path string) (string, error) {
	b, err := p.Kube.CoreV1().Pods(p.Namespace).ProxyGet("http", pod, port, path, nil).DoRaw(ctx)
	return string(b), err
}

// LookupHost resolves with the machine's resolver.
func (p *KubeProber) LookupHost(ctx context.Context, host string) ([]string, error) {
	return net.DefaultResolver.LookupHost(ctx, host)
}

var dfUseRE = regexp.MustCompile(`\s(\d{1,3})%\s+(\S+)\s*$`)

// ParseDF returns the use percentage and mount point of the last line of `df -P` output.
func ParseDF(out string) (int, string, bool) {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 1; i-- {
		if m := dfUseRE.FindStringSubmatch(lines[i]); m != nil {
			n, _ := strconv.Atoi(m[1])
			return n, m[2], true
		}
	}
	return 0, "", false
}

// runningPod returns the first running, not deleting pod of a component.
func (r *runner) runningPods(comp string) []PodSummary {
	var out []PodSummary
	for _, p := range r.s.Pods {
		if p.Component == comp && p.Phase == corev1.PodRunning && !p.Deleting {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// checkProbes runs the live probes, each in its own step.
func (r *runner) checkProbes(ctx context.Context) {
	if r.prober == nil || !r.cfg.Probe {
		return
	}
	r.begin("PIY979", KindPods)
	r.probePostgres(ctx)
	r.probeRedis(ctx)
	r.probeAPIReadyz(ctx)
	r.probeDiskUse(ctx)
	r.probeArchiving(ctx)
	r.probeWALChain(ctx)
	r.probeReplication(ctx)
	r.probeIngressDNS(ctx)
}

// probeShell is cmd run by sh -c.
func probeShell(cmd string) []string { return []string{"sh", "-c", cmd} }

// probeExec runs cmd in a container of pod, bounded by ProbeTimeout.
func (r *runner) probeExec(ctx context.Context, pod, container string, cmd []string) (string, error) {
	c, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	return r.prober.Exec(c, pod, container, cmd)
}

// probeCouldNot reports PIY979: the probe what could not run.
func (r *runner) probeCouldNot(comp, pod, what string, err error, fix ...string) {
	if r.begin("PIY979", KindPods) {
		msg := fmt.Sprintf("%s could not run", what)
		if pod != "" {
			msg += " in pod " + pod
		}
		if err != nil {
			msg += ": " + truncate(r.mask(err.Error()), 160)
		}
		r.add("PIY979", comp, podObj(pod), msg, nil, strings.Join(fix, ""))
	}
}

// probeContainer is the container of p named after comp, else its first.
func probeContainer(p PodSummary, comp string) string {
	if len(p.Containers) == 0 {
		return comp
	}
	for _, c := range p.Containers {
		if c == comp {
			return c
		}
	}
	return p.Containers[0]
}

// probeExecFix is PIY979's fix: the probe's command, to run by hand.
func (r *runner) probeExecFix(pod, container, cmd string) string {
	return fmt.Sprintf("run it by hand: kubectl exec -n %s %s -c %s -- %s", r.s.Namespace, pod, container, cmd)
}

// probeNoPodFix is PIY979's fix when comp has no running pod.
func (r *runner) probeNoPodFix(comp string) string {
	c, _ := app.LookupComponent(comp)
	return fmt.Sprintf("kubectl get pods -n %s -l %s", r.s.Namespace, c.Selector())
}

// probePostgres runs pg_isready in the first PostgreSQL pod (PIY971).
func (r *runner) probePostgres(ctx context.Context) {
	if !r.begin("PIY971", KindPods) {
		return
	}
	pods := r.runningPods(app.Postgres)
	if len(pods) == 0 {
		r.probeCouldNot(app.Postgres, "", "pg_isready: no running PostgreSQL pod;", nil, r.probeNoPodFix(app.Postgres))
		return
	}
	p := pods[0]
	out, err := r.probeExec(ctx, p.Name, probeContainer(p, app.Postgres), probeShell(fmt.Sprintf("pg_isready -U %s -d %s", app.DatabaseUser, app.DatabaseName)))
	switch {
	case strings.Contains(out, "accepting connections"):
	case strings.TrimSpace(out) == "":
		r.probeCouldNot(app.Postgres, p.Name, "pg_isready", err, r.probeExecFix(p.Name, probeContainer(p, app.Postgres), fmt.Sprintf("pg_isready -U %s -d %s", app.DatabaseUser, app.DatabaseName)))
	default:
		r.add("PIY971", app.Postgres, podObj(p.Name), "pg_isready: "+truncate(r.mask(out), 200), []string{"pg_isready output: " + truncate(r.mask(out), 200)},
			fmt.Sprintf("kubectl logs %s -n %s", p.Name, r.s.Namespace))
	}
}

// probeRedis runs redis-cli ping in the first Redis pod (PIY972).
func (r *runner) probeRedis(ctx context.Context) {
	if !r.begin("PIY972", KindPods) {
		return
	}
	pods := r.runningPods(app.Redis)
	if len(pods) == 0 {
		r.probeCouldNot(app.Redis, "", "redis-cli ping: no running Redis pod;", nil, r.probeNoPodFix(app.Redis))
		return
	}
	p := pods[0]
	out, err := r.probeExec(ctx, p.Name, probeContainer(p, app.Redis), probeShell("redis-cli ping"))
	switch {
	case strings.Contains(out, "PONG"):
	case strings.TrimSpace(out) == "":
		r.probeCouldNot(app.Redis, p.Name, "redis-cli ping", err, r.probeExecFix(p.Name, probeContainer(p, app.Redis), "redis-cli ping"))
	default:
		r.add("PIY972", app.Redis, podObj(p.Name), "redis-cli ping answered: "+truncate(r.mask(out), 200), nil,
			fmt.Sprintf("kubectl logs %s -n %s", p.Name, r.s.Namespace))
	}
}

// probeAPIReadyz gets /readyz of every running api pod through the pod proxy (PIY973).
func (r *runner) probeAPIReadyz(ctx context.Context) {
	if !r.begin("PIY973", KindPods) {
		return
	}
	c, _ := app.LookupComponent(app.API)
	for _, p := range r.runningPods(app.API) {
		pctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
		body, err := r.prober.ProxyGet(pctx, p.Name, strconv.Itoa(int(c.Port)), "/readyz")
		cancel()
		if err == nil {
			continue
		}
		if refusedProxy(err) {
			r.probeCouldNot(app.API, p.Name, "GET /readyz through the API server's pod proxy (the API server refused it: you may not get pods/proxy)", nil,
				fmt.Sprintf("run the probes with an account that may get pods/proxy (Role piyasa-operator); check: kubectl auth can-i get pods --subresource=proxy -n %s", r.s.Namespace))
		} else if code, answered := podAnswered(err); answered {
			r.add("PIY973", app.API, podObj(p.Name), fmt.Sprintf("GET /readyz answered %d: %s", code, truncate(r.mask(err.Error()), 200)), []string{"body: " + truncate(r.mask(body), 160)},
				fmt.Sprintf("kubectl logs %s -n %s", p.Name, r.s.Namespace))
		} else {
			r.probeCouldNot(app.API, p.Name, "GET /readyz through the API server's pod proxy", err,
				fmt.Sprintf("kubectl port-forward pod/%s %d -n %s, then: curl http://127.0.0.1:%d/readyz", p.Name, c.Port, r.s.Namespace, c.Port))
		}
	}
}

// probeDiskUse runs df on the data volumes of PostgreSQL and Redis (PIY974, PIY975).
func (r *runner) probeDiskUse(ctx context.Context) {
	r974, r975, r977 := r.begin("PIY974", KindPods), r.begin("PIY975", KindPods), r.begin("PIY977", KindPods)
	if !r974 && !r975 && !r977 {
		return
	}
	for _, comp := range []string{app.Postgres, app.Redis} {
		for _, p := range r.runningPods(comp) {
			for claim, where := range p.Mounts {
				wal := r.isWALArchiveClaim(claim)
				if (wal && !r977) || (!wal && !r974 && !r975) {
					continue
				}
				ctr, path, _ := strings.Cut(where, ":")
				out, err := r.probeExec(ctx, p.Name, ctr, probeShell("df -P "+path))
				use, _, ok := ParseDF(out)
				if !ok {
					r.probeCouldNot(comp, p.Name, "df -P "+path, fmt.Errorf("unreadable output %q (%v)", truncate(r.mask(out), 80), err), r.probeExecFix(p.Name, ctr, "df -P "+path))
					continue
				}
				if wal {
					r.walArchiveFull(p.Name, claim, path, use)
					continue
				}
				ev := []string{fmt.Sprintf("df %s: %d%% used (PVC %s)", path, use, claim)}
				fix := fmt.Sprintf(`kubectl patch pvc %s -n %s -p '{"spec":{"resources":{"requests":{"storage":"LARGER"}}}}' (if its StorageClass allows expansion, see PIY603)`, claim, r.s.Namespace)
				switch {
				case use > 90 && r975:
					r.add("PIY975", comp, Object{Kind: "PersistentVolumeClaim", Name: claim}, fmt.Sprintf("volume %s of pod %s is %d%% full", path, p.Name, use), ev, fix)
				case use > 80 && use <= 90 && r974:
					r.add("PIY974", comp, Object{Kind: "PersistentVolumeClaim", Name: claim}, fmt.Sprintf("volume %s of pod %s is %d%% full", path, p.Name, use), ev, fix)
				}
			}
		}
	}
}

// probeIngressDNS resolves every Ingress host (PIY976).
func (r *runner) probeIngressDNS(ctx context.Context) {
	if !r.begin("PIY976", KindIngresses) {
		return
	}
	seen := map[string]bool{}
	for _, ing := range r.s.Ingresses {
		for _, rule := range ing.Spec.Rules {
			h := rule.Host
			if h == "" || seen[h] || strings.Contains(h, "*") {
				continue
			}
			seen[h] = true
			dctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			_, err := r.prober.LookupHost(dctx, h)
			cancel()
			if err != nil {
				r.add("PIY976", "app", Object{Kind: "Ingress", Name: ing.Name}, fmt.Sprintf("host %s does not resolve: %s", h, truncate(err.Error(), 160)), nil,
					fmt.Sprintf("nslookup %s; create the DNS record pointing at the ingress controller", h))
			}
		}
	}
}

// refusedProxy tells whether the API server itself refused the pod proxy
// (401, 403: authentication or RBAC): the request never reached the pod.
func refusedProxy(err error) bool {
	return apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err)
}

// podAnswered tells whether a pod-proxy error is the pod's own answer (a
// status other than 200, with the app's body) rather than the API server or
// a proxy on the way refusing or failing to reach the pod, and returns its
// HTTP status. client-go marks a body that is not an API Status as an
// unexpected server response: that body came from the pod.
func podAnswered(err error) (int, bool) {
	var se *apierrors.StatusError
	if !errors.As(err, &se) {
		return 0, false // no HTTP answer at all
	}
	st := se.Status()
	if st.Details == nil || refusedProxy(err) {
		return 0, false
	}
	for _, c := range st.Details.Causes {
		if c.Type == metav1.CauseTypeUnexpectedServerResponse {
			msg := strings.ToLower(c.Message + " " + st.Message)
			for _, s := range proxyFailures {
				if strings.Contains(msg, s) {
					return 0, false
				}
			}
			return int(st.Code), true
		}
	}
	return 0, false
}

// proxyFailures are texts of a proxy on the way that could not reach the pod.
var proxyFailures = []string{"error trying to reach service", "denied destination", "resolve_deny", "no endpoints available", "dial tcp", "connection refused", "proxy error"}
