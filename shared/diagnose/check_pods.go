package diagnose

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/redact"
	corev1 "k8s.io/api/core/v1"
)

// LogFunc returns the last lines of a container's log (previous: of the
// container instance before the current one).
type LogFunc func(ctx context.Context, pod, container string, previous bool, tail int64) (string, error)

// maxLogPods bounds the log reads of one run.
const maxLogPods = 10

// logClasses classify a crashed container's last log lines, in order.
var logClasses = []struct {
	code string
	re   *regexp.Regexp
}{
	{"PIY106", regexp.MustCompile(`(?i)(redis[^\n]*(connection refused|error 111|connectionerror|could not connect)|error 111 connecting to|connecting to [^\s]*:6379)`)},
	{"PIY103", regexp.MustCompile(`(?i)(operationalerror|could not connect to server|could not translate host name|connection to server at [^\n]* failed|is the server running on host|psycopg2?\.|asyncpg[^\n]*(refused|cannotconnect)|sqlalchemy\.exc\.operationalerror)`)},
	{"PIY105", regexp.MustCompile(`(?i)(authenticationerror|incorrect api key|invalid[_ ]api[_ ]key|api key not valid|permissiondenied[^\n]*api key|\b401\b[^\n]*(unauthorized|openai|groq|gemini|googleapis|api key)|(openai|groq|gemini|googleapis)[^\n]*\b401\b)`)},
	{"PIY104", regexp.MustCompile(`(?i)(keyerror: ?'[A-Z0-9_]+'|validation errors? for [A-Za-z]*settings|field required|missing required (setting|environment variable|env)|environment variable [A-Z0-9_]+ (is )?(not set|missing)|[A-Z0-9_]{3,} (is )?not set)`)},
}

// ClassifyLog returns the code of a known crash cause found in the log and the matching line.
func ClassifyLog(log string) (code, line string) {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	for _, lc := range logClasses {
		for i := len(lines) - 1; i >= 0; i-- {
			if lc.re.MatchString(lines[i]) {
				return lc.code, lines[i]
			}
		}
	}
	return "", ""
}

func lastLines(log string, n int) []string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			out = append(out, "log: "+truncate(redact.Line(l), 240))
		}
	}
	return out
}

func (r *runner) checkPods(ctx context.Context) {
	logs := r.logs
	codes := []string{"PIY101", "PIY102", "PIY103", "PIY104", "PIY105", "PIY106", "PIY107", "PIY108", "PIY109", "PIY110", "PIY111"}
	run := map[string]bool{}
	for _, c := range codes {
		run[c] = r.begin(c, KindPods)
	}
	logReads := 0
	for _, p := range r.s.Pods {
		if p.Deleting || p.Phase == corev1.PodSucceeded {
			continue
		}
		comp := p.Component
		if comp == "" {
			comp = "app"
		}
		obj := podObj(p.Name)
		crashing := false
		for _, pr := range p.Problems {
			ev := []string{pr.String()}
			switch {
			case pr.Reason == kube.ReasonUnschedulable:
				crashing = true
				if run["PIY109"] {
					r.add("PIY109", comp, obj, "Pending: "+truncate(pr.Message, 200), ev, "")
				}
			case pr.Reason == kube.ReasonImagePullBackOff || pr.Reason == kube.ReasonErrImagePull || pr.Reason == kube.ReasonInvalidImageName:
				crashing = true
				if run["PIY107"] {
					r.add("PIY107", comp, obj, fmt.Sprintf("container %s: %s", pr.Container, pr.Reason), ev, "")
				}
			case pr.Reason == kube.ReasonCreateContainerConfigError:
				crashing = true
				if run["PIY108"] {
					r.add("PIY108", comp, obj, fmt.Sprintf("container %s: %s", pr.Container, truncate(pr.Message, 200)), ev, "")
				}
			case pr.Reason == kube.ReasonOOMKilled || pr.LastTermination == kube.ReasonOOMKilled:
				crashing = true
				if run["PIY102"] {
					limit := p.MemoryLimits[pr.Container]
					msg := fmt.Sprintf("container %s was OOMKilled", pr.Container)
					if limit != "" {
						msg += " at its memory limit of " + limit
						ev = append(ev, "memory limit: "+limit)
					} else {
						msg += " (no memory limit: the node ran out of memory)"
					}
					r.add("PIY102", comp, obj, msg, ev, r.oomFix(p, pr.Container, limit))
				}
			default: // CrashLoopBackOff, Error, CreateContainerError, RunContainerError ...
				crashing = true
				if !run["PIY101"] && !run["PIY103"] && !run["PIY104"] && !run["PIY105"] && !run["PIY106"] {
					continue
				}
				code, ev2 := "PIY101", ev
				msg := fmt.Sprintf("container %s: %s", pr.Container, pr.Reason)
				if pr.LastTermination != "" {
					msg += fmt.Sprintf(" (last termination: %s, exit %d)", pr.LastTermination, pr.ExitCode)
				}
				if logs != nil && logReads < maxLogPods {
					logReads++
					text, err := readLog(ctx, logs, p.Name, pr.Container)
					if err != nil {
						ev2 = append(ev2, "previous log unavailable: "+truncate(err.Error(), 160))
					} else if c, line := ClassifyLog(text); c != "" && run[c] {
						code = c
						msg += ": " + truncate(redact.Line(line), 200)
						ev2 = append(ev2, lastLines(text, 5)...)
					} else {
						ev2 = append(ev2, lastLines(text, 10)...)
					}
				}
				if !run[code] {
					continue
				}
				fix := ""
				if code == "PIY101" {
					fix = fmt.Sprintf("kubectl logs %s -c %s --previous -n %s", p.Name, pr.Container, r.s.Namespace)
				}
				r.add(code, comp, obj, msg, ev2, fix)
			}
		}
		if crashing {
			continue
		}
		if run["PIY110"] && p.Restarts >= 5 {
			r.add("PIY110", comp, obj, fmt.Sprintf("container %s restarted %d times", p.RestartContainer, p.Restarts),
				[]string{fmt.Sprintf("restartCount: %d", p.Restarts)}, fmt.Sprintf("kubectl logs %s -c %s --previous -n %s", p.Name, p.RestartContainer, r.s.Namespace))
		}
		if run["PIY111"] && p.Phase == corev1.PodRunning && !p.Ready && p.NotReadyFor > time.Minute {
			r.add("PIY111", comp, obj, fmt.Sprintf("running but not ready for %s", p.NotReadyFor.Round(time.Second)),
				[]string{"condition Ready=False"}, fmt.Sprintf("kubectl describe pod %s -n %s", p.Name, r.s.Namespace))
		}
	}
}

func readLog(ctx context.Context, logs LogFunc, pod, container string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	text, err := logs(ctx, pod, container, true, 50)
	if err != nil || strings.TrimSpace(text) == "" {
		// no previous instance kept (or the runtime does not keep one): the current log
		if cur, err2 := logs(ctx, pod, container, false, 50); err2 == nil && strings.TrimSpace(cur) != "" {
			return cur, nil
		}
	}
	return text, err
}

// oomFix returns the patch that doubles the container's memory limit.
func (r *runner) oomFix(p PodSummary, container, limit string) string {
	kind, name := "deployment", ""
	if p.Component != "" {
		if w, ok := r.component(p.Component); ok {
			kind, name = strings.ToLower(w.Kind), w.Name
		}
	}
	if name == "" {
		owner := p.Owner
		switch {
		case strings.HasPrefix(owner, "ReplicaSet/"):
			n := strings.TrimPrefix(owner, "ReplicaSet/")
			if i := strings.LastIndexByte(n, '-'); i > 0 {
				n = n[:i]
			}
			name = n
		case strings.HasPrefix(owner, "StatefulSet/"):
			kind, name = "statefulset", strings.TrimPrefix(owner, "StatefulSet/")
		default:
			return "raise the memory limit of container " + container + " in its workload"
		}
	}
	newLimit := "1Gi"
	if limit != "" {
		q := quantity(limit)
		if v := q.Value(); v > 0 {
			newLimit = fmt.Sprintf("%dMi", 2*v/(1024*1024))
		}
	}
	fix := fmt.Sprintf(`kubectl patch %s %s -n %s -p '{"spec":{"template":{"spec":{"containers":[{"name":"%s","resources":{"limits":{"memory":"%s"}}}]}}}}'`,
		kind, name, r.s.Namespace, container, newLimit)
	if p.Component != "" {
		if c, err := app.LookupComponent(p.Component); err == nil && c.Scalable {
			return fix + " (the guide's Appendix A gives the limits per environment)"
		}
	}
	return fix
}

// checkWorkloads reports missing components and workloads short of ready replicas.
func (r *runner) checkWorkloads(context.Context) {
	if r.begin("PIY112", KindDeployments, KindStatefulSets) {
		empty := ""
		if len(r.s.Deployments)+len(r.s.StatefulSets) == 0 {
			empty = " (the namespace has no workloads: check -n and --env)"
		}
		for _, c := range app.Components {
			if _, ok := r.component(c.Name); !ok {
				r.add("PIY112", c.Name, Object{Kind: c.Kind, Name: r.s.Env.WorkloadName(c)},
					fmt.Sprintf("%s %s not found in namespace %s%s", c.Kind, r.s.Env.WorkloadName(c), r.s.Namespace, empty), nil,
					fmt.Sprintf("kubectl piyasa deploy --env %s -n %s --env-file .env", r.s.Env.Name, r.s.Namespace))
			}
		}
	}
	if r.begin("PIY113", KindDeployments, KindStatefulSets) {
		for _, w := range r.workloads() {
			var ready int32
			switch {
			case w.Deploy != nil:
				ready = w.Deploy.Status.ReadyReplicas
			case w.STS != nil:
				ready = w.STS.Status.ReadyReplicas
			default:
				continue
			}
			if ready < w.Replicas {
				comp := w.Component
				r.add("PIY113", comp, w.obj(), fmt.Sprintf("%d of %d replicas ready", ready, w.Replicas),
					[]string{fmt.Sprintf("readyReplicas: %d, replicas: %d", ready, w.Replicas)},
					fmt.Sprintf("kubectl piyasa deploy status -n %s", r.s.Namespace))
			}
		}
	}
}
