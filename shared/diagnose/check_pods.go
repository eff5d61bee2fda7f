package diagnose

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
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

// lastLines returns the last n lines of a log as evidence, masked (Secret
// values and credential patterns) before they are cut to length.
func (r *runner) lastLines(log string, n int) []string {
	lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	out := make([]string, 0, len(lines))
	for _, l := range lines {
		if strings.TrimSpace(l) != "" {
			out = append(out, "log: "+truncate(r.mask(l), 240))
		}
	}
	return out
}

// LogEvidenceLeftOut is the evidence (and the report's note) when the logs
// cannot be masked: a log line may hold any Secret value.
const LogEvidenceLeftOut = "log evidence left out: the Secrets needed to mask it cannot be read (RBAC: list secrets)"

// checkPods reports the problems of every pod, and the restarts and
// readiness of the pods without one.
func (r *runner) checkPods(ctx context.Context) {
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
		for _, pr := range p.Problems {
			r.checkPodProblem(ctx, p, comp, obj, pr, run, &logReads)
		}
		if len(p.Problems) > 0 {
			continue
		}
		r.checkPodRestarts(p, comp, obj, run)
	}
}

// checkPodProblem reports one problem of a pod: unschedulable (PIY109), an
// image it cannot pull (PIY107), a bad container config (PIY108), OOMKilled
// (PIY102) or a crash (checkCrash).
func (r *runner) checkPodProblem(ctx context.Context, p PodSummary, comp string, obj Object, pr kube.PodProblem, run map[string]bool, logReads *int) {
	ev := []string{pr.String()}
	switch {
	case pr.Reason == kube.ReasonUnschedulable:
		if run["PIY109"] {
			r.add("PIY109", comp, obj, "Pending: "+truncate(pr.Message, 200), ev, "")
		}
	case pr.Reason == kube.ReasonImagePullBackOff || pr.Reason == kube.ReasonErrImagePull || pr.Reason == kube.ReasonInvalidImageName:
		if run["PIY107"] {
			msg := fmt.Sprintf("container %s cannot pull image %s: %s", pr.Container, or(p.Images[pr.Container], "(unknown)"), pr.Reason)
			if pr.Message != "" {
				msg += " (" + truncate(pr.Message, 160) + ")"
			}
			r.add("PIY107", comp, obj, msg, ev, "")
		}
	case pr.Reason == kube.ReasonCreateContainerConfigError:
		if run["PIY108"] {
			r.add("PIY108", comp, obj, fmt.Sprintf("container %s: %s", pr.Container, truncate(pr.Message, 200)), ev, "")
		}
	case pr.Reason == kube.ReasonOOMKilled || pr.LastTermination == kube.ReasonOOMKilled:
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
		if !run["PIY101"] && !run["PIY103"] && !run["PIY104"] && !run["PIY105"] && !run["PIY106"] {
			return
		}
		r.checkCrash(ctx, p, comp, obj, pr, ev, run, logReads)
	}
}

// checkCrash reports a crashing container: PIY101, or the cause its previous
// log names (PIY103-PIY106), with the log's last lines as evidence.
func (r *runner) checkCrash(ctx context.Context, p PodSummary, comp string, obj Object, pr kube.PodProblem, ev []string, run map[string]bool, logReads *int) {
	code, ev2 := "PIY101", ev
	msg := fmt.Sprintf("container %s: %s", pr.Container, pr.Reason)
	if pr.LastTermination != "" {
		msg += fmt.Sprintf(" (last termination: %s, exit %d)", pr.LastTermination, pr.ExitCode)
	}
	if r.logs != nil && *logReads < maxLogPods {
		*logReads++
		text, err := readLog(ctx, r.logs, p.Name, pr.Container)
		switch c, line := ClassifyLog(text); {
		case err != nil:
			ev2 = append(ev2, "previous log unavailable: "+truncate(r.mask(err.Error()), 160))
		case !r.s.CanMask():
			// the cause may be classified, but no line of the log is printed
			if c != "" && run[c] {
				code = c
			}
			ev2 = append(ev2, LogEvidenceLeftOut)
			r.note(LogEvidenceLeftOut)
		case c != "" && run[c]:
			code = c
			msg += ": " + truncate(r.mask(line), 200)
			ev2 = append(ev2, r.lastLines(text, 5)...)
		default:
			ev2 = append(ev2, r.lastLines(text, 10)...)
		}
	}
	if !run[code] {
		return
	}
	fix := ""
	if code == "PIY101" {
		fix = fmt.Sprintf("kubectl logs %s -c %s --previous -n %s", p.Name, pr.Container, r.s.Namespace)
	}
	r.add(code, comp, obj, msg, ev2, fix)
}

// checkPodRestarts reports a pod without a problem that restarted often
// (PIY110) or is running but not ready (PIY111).
func (r *runner) checkPodRestarts(p PodSummary, comp string, obj Object, run map[string]bool) {
	if run["PIY110"] && p.Restarts >= 5 {
		r.add("PIY110", comp, obj, fmt.Sprintf("container %s restarted %d times", p.RestartContainer, p.Restarts),
			[]string{fmt.Sprintf("restartCount: %d", p.Restarts)}, fmt.Sprintf("kubectl logs %s -c %s --previous -n %s", p.Name, p.RestartContainer, r.s.Namespace))
	}
	if run["PIY111"] && p.Phase == corev1.PodRunning && !p.Ready && p.NotReadyFor > time.Minute {
		r.add("PIY111", comp, obj, fmt.Sprintf("running but not ready for %s", p.NotReadyFor.Round(time.Second)),
			[]string{"condition Ready=False"}, fmt.Sprintf("kubectl describe pod %s -n %s", p.Name, r.s.Namespace))
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
	if r.begin("PIY120", KindDeployments, KindStatefulSets) {
		if left, ok := r.restoreLeft(); ok {
			obj := Object{Kind: app.KindDeployment, Name: r.s.Env.WorkloadName(app.Components[0])}
			if w, found := r.component(app.API); !found || w.Deploy == nil || w.Deploy.Annotations[app.RestoreAnnotation]+w.Deploy.Annotations[app.ReplicasBeforeRestoreAnnotation] == "" {
				if wk, found := r.component(app.Worker); found {
					obj = wk.obj()
				}
			}
			ev := []string{"stopped: " + strings.Join(left.Objects, ", ")}
			if left.Undo != "" {
				ev = append(ev, "go back: "+left.Undo)
			}
			r.add("PIY120", "app", obj, left.Message, ev, left.Hint())
		}
	}
	if r.begin("PIY115", KindDeployments) {
		for _, name := range []string{app.API, app.Frontend} {
			w, ok := r.component(name)
			if !ok || w.Deploy == nil || w.Replicas != 0 {
				continue
			}
			msg := fmt.Sprintf("deployment/%s has 0 replicas: no pod serves the %s", w.Name, name)
			if r.hpaOf(w) != "" {
				msg += fmt.Sprintf(" (HPA %s does not scale up from 0)", r.hpaOf(w))
			}
			r.add("PIY115", name, w.obj(), msg, []string{"spec.replicas: 0"}, r.scaleUpFix(w))
		}
	}
	if r.begin("PIY113", KindDeployments, KindStatefulSets) {
		for _, w := range r.workloads() {
			if w.Deploy == nil && w.STS == nil {
				continue
			}
			ready := w.ready()
			switch {
			case w.Replicas == 0 && (w.Component == app.API || w.Component == app.Frontend) && r.selected("PIY115"):
				// PIY115 reports it, as an error
			case w.Replicas == 0 && r.needed(w):
				r.add("PIY113", w.Component, w.obj(), fmt.Sprintf("%s/%s has 0 replicas: the app needs its %s", strings.ToLower(w.Kind), w.Name, w.Component),
					[]string{"spec.replicas: 0"}, r.scaleUpFix(w))
			case ready < w.Replicas:
				r.add("PIY113", w.Component, w.obj(), fmt.Sprintf("%d of %d replicas ready", ready, w.Replicas),
					[]string{fmt.Sprintf("readyReplicas: %d, replicas: %d", ready, w.Replicas)},
					fmt.Sprintf("kubectl piyasa deploy status -n %s", r.s.Namespace))
			}
		}
	}
}

// needed tells whether a workload is the one of an app component (the app
// does not work without it) and no HPA sets its replicas.
func (r *runner) needed(w workload) bool {
	if w.Component == "" {
		return false
	}
	if cw, ok := r.component(w.Component); !ok || cw.Name != w.Name || cw.Kind != w.Kind {
		return false
	}
	for _, h := range r.s.HPAs {
		if h.Spec.ScaleTargetRef.Kind == w.Kind && h.Spec.ScaleTargetRef.Name == w.Name {
			return false
		}
	}
	return true
}

// failedCreate returns the latest FailedCreate event group of the workload's
// controller (the Deployment's ReplicaSets, the StatefulSet, the Job) while
// the workload is short of ready replicas: its pods cannot be created.
func (r *runner) failedCreate(w workload) (EventGroup, bool) {
	if w.Replicas > 0 && w.ready() >= w.Replicas {
		return EventGroup{}, false
	}
	var best EventGroup
	found := false
	for _, e := range r.s.Events {
		if e.Reason != "FailedCreate" || !w.controls(e.Kind, e.Name) {
			continue
		}
		if !found || e.Last.After(best.Last) {
			best, found = e, true
		}
	}
	return best, found
}

// ready returns the workload's ready replicas (Deployments and StatefulSets).
func (w workload) ready() int32 {
	switch {
	case w.Deploy != nil:
		return w.Deploy.Status.ReadyReplicas
	case w.STS != nil:
		return w.STS.Status.ReadyReplicas
	}
	return 0
}

// controls tells whether the object kind/name creates the workload's pods.
func (w workload) controls(kind, name string) bool {
	switch {
	case w.Kind == app.KindDeployment:
		return kind == "ReplicaSet" && strings.HasPrefix(name, w.Name+"-") && !strings.Contains(name[len(w.Name)+1:], "-")
	default:
		return kind == w.Kind && name == w.Name
	}
}

var quotaRE = regexp.MustCompile(`exceeded quota: ([a-z0-9]([-a-z0-9.]*[a-z0-9])?)`)

// createFix is the fix for pods that cannot be created: the quota named in the event, else the controller.
func createFix(e EventGroup, ns string) string {
	if m := quotaRE.FindStringSubmatch(e.Message); m != nil {
		return fmt.Sprintf("kubectl describe resourcequota %s -n %s; raise it (kubectl edit resourcequota %s -n %s) or lower the replicas or requests", m[1], ns, m[1], ns)
	}
	return fmt.Sprintf("kubectl describe %s %s -n %s", strings.ToLower(e.Kind), e.Name, ns)
}

// scaleUpFix is the command that gives a workload at 0 replicas its replicas
// back: scale worker for the workers (TOTAL_WORKERS follows), kubectl scale
// for the others, to the environment's count.
// While an interrupted restore has stopped the app (PIY120), the fix is that
// finding's: the restore brings the recorded counts back.
func (r *runner) scaleUpFix(w workload) string {
	if fix, ok := r.restoreFix(); ok {
		return fix
	}
	n := r.s.Env.Replicas[w.Component]
	if n < 1 {
		n = 1
	}
	if w.Component == app.Worker {
		if t := r.s.Env.TotalWorkers; t > 0 {
			n = t
		}
		// the count the ConfigMap shards for, when it says one
		if t, err := strconv.ParseInt(strings.TrimSpace(r.appConfig()[app.KeyTotalWorkers]), 10, 32); err == nil && t > 0 {
			n = int32(t)
		}
		return fmt.Sprintf("kubectl piyasa scale worker %d -n %s (sets TOTAL_WORKERS and the replicas together)", n, r.s.Namespace)
	}
	return fmt.Sprintf("kubectl scale %s/%s --replicas=%d -n %s", strings.ToLower(w.Kind), w.Name, n, r.s.Namespace)
}

// restoreLeft tells whether an interrupted restore stopped the app: the
// restore's annotations on the app's workloads while they are at 0.
func (r *runner) restoreLeft() (kube.RestoreLeft, bool) {
	var marks []kube.RestoreMark
	for _, w := range r.appWorkloads() {
		var ann map[string]string
		switch {
		case w.Deploy != nil:
			ann = w.Deploy.Annotations
		case w.STS != nil:
			ann = w.STS.Annotations
		}
		marks = append(marks, kube.RestoreMark{Component: w.Component, Kind: w.Kind, Name: w.Name, Replicas: w.Replicas, Annotations: ann})
	}
	left, ok := kube.InterruptedRestore(marks, r.s.Namespace)
	if ok {
		// the record comes from the cluster: masked as any text from it
		left.Message = r.mask(left.Message)
		left.Finish, left.Undo, left.Restart = r.mask(left.Finish), r.mask(left.Undo), r.mask(left.Restart)
	}
	return left, ok
}

// restoreFix is the fix of a worker or app finding while an interrupted
// restore has stopped the app: PIY120's, never a scale of the workers.
func (r *runner) restoreFix() (string, bool) {
	left, ok := r.restoreLeft()
	if !ok {
		return "", false
	}
	return "an interrupted restore stopped the app (PIY120): " + left.Hint(), true
}

// hpaOf returns the name of the HPA that targets the workload ("" for none).
func (r *runner) hpaOf(w workload) string {
	for _, h := range r.s.HPAs {
		if h.Spec.ScaleTargetRef.Kind == w.Kind && h.Spec.ScaleTargetRef.Name == w.Name {
			return h.Name
		}
	}
	return ""
}

// checkCreate reports controllers that cannot create their pods (PIY114):
// FailedCreate events while the workload is short of ready replicas.
func (r *runner) checkCreate(context.Context) {
	if !r.begin("PIY114", KindEvents, KindDeployments, KindStatefulSets) {
		return
	}
	for _, w := range r.workloads() {
		e, ok := r.failedCreate(w)
		if !ok {
			continue
		}
		r.add("PIY114", or(w.Component, "app"), Object{Kind: e.Kind, Name: e.Name},
			fmt.Sprintf("%s %s cannot create pods for %s %s: %s", e.Kind, e.Name, w.Kind, w.Name, truncate(e.Message, 240)),
			[]string{fmt.Sprintf("event FailedCreate x%d, last seen %s", e.Count, e.Last.UTC().Format(time.RFC3339)),
				fmt.Sprintf("ready replicas: %d of %d", w.ready(), w.Replicas)},
			createFix(e, r.s.Namespace))
	}
}
