package diagnose

import (
	"regexp"
	"strings"
	"unicode/utf8"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// runner evaluates the checks over a snapshot and gathers the findings.
type runner struct {
	s      *Snapshot
	cfg    Config
	checks map[string]*CheckResult
	// order holds the codes of checks in the order they were registered.
	order []string
	out   []Finding
	fixes *strings.Replacer

	// logs reads container logs (nil: none); prober runs the live probes (nil: none).
	logs        LogFunc
	prober      Prober
	envFileKeys []string
	// notes are said once under the report (e.g. log evidence left out).
	notes []string
	// database is the database's replication role read by the probe ("" unread).
	database string
}

// note adds a note to the report, once.
func (r *runner) note(n string) {
	for _, x := range r.notes {
		if x == n {
			return
		}
	}
	r.notes = append(r.notes, n)
}

func newRunner(s *Snapshot, cfg Config, logs LogFunc, prober Prober) *runner {
	s.maskTexts()
	return &runner{s: s, cfg: cfg, checks: map[string]*CheckResult{},
		logs: logs, prober: prober, envFileKeys: cfg.EnvFileKeys,
		fixes: strings.NewReplacer("-n NS", "-n "+s.Namespace, "--env ENV", "--env "+s.Env.Name)}
}

// selected tells whether a code is to run at all (--only, --skip, --probe).
func (r *runner) selected(code string) bool {
	c := codeIndex[code]
	if c == nil {
		panic("unknown diagnose code " + code)
	}
	return r.cfg.selects(c)
}

// begin registers a code's check and tells whether to run it: false when the
// code is not selected or a kind it needs could not be read (skipped: forbidden).
func (r *runner) begin(code string, needs ...Kind) bool {
	if !r.selected(code) {
		return false
	}
	c := codeIndex[code]
	if res, ok := r.checks[code]; ok {
		if res.Status == StatusSkipped {
			return false
		}
	} else {
		r.checks[code] = &CheckResult{Code: code, Title: c.Title, Area: c.Area, Severity: c.Severity, Status: StatusPassed}
		r.order = append(r.order, code)
	}
	if k, bad := r.s.Forbidden(needs...); bad {
		res := r.checks[code]
		res.Status, res.Reason = StatusSkipped, forbiddenReason+"list "+string(k)
		return false
	}
	return true
}

// skipped marks a selected check as skipped for a reason.
func (r *runner) skipped(code, reason string) {
	if !r.selected(code) {
		return
	}
	c := codeIndex[code]
	if _, seen := r.checks[code]; !seen {
		r.order = append(r.order, code)
	}
	r.checks[code] = &CheckResult{Code: code, Title: c.Title, Area: c.Area, Severity: c.Severity, Status: StatusSkipped, Reason: reason}
}

// add records a finding of code; fix "" takes the code's default fix.
func (r *runner) add(code, component string, obj Object, msg string, evidence []string, fix string) {
	c := codeIndex[code]
	res := r.checks[code]
	if res == nil || res.Status == StatusSkipped {
		return
	}
	res.Status = StatusFailed
	res.Findings++
	if fix == "" {
		fix = c.Fix
		if re := placeholderRE[obj.Kind]; re != nil {
			fix = re.ReplaceAllLiteralString(fix, obj.Name)
		}
	}
	if component == "" {
		component = "app"
	}
	// the texts from the cluster were masked where they were read (before any
	// truncation); a Secret value is never printed, whatever quotes it
	for i := range evidence {
		evidence[i] = r.s.Mask.Values(evidence[i])
	}
	r.out = append(r.out, Finding{Code: code, Severity: c.Severity, Title: c.Title, Component: component, Object: obj,
		Message: r.s.Mask.Values(msg), Evidence: evidence, Fix: r.s.Mask.Values(r.fixes.Replace(fix))})
}

// mask masks a text from the cluster (output of a probe, an error of the API
// server): Secret values and credential patterns.
func (r *runner) mask(s string) string { return r.s.MaskText(s) }

// workload is one Deployment, StatefulSet, CronJob or Job with its pod template.
type workload struct {
	Kind, Name string
	Component  string
	Replicas   int32
	Template   *corev1.PodTemplateSpec
	Deploy     *appsv1.Deployment
	STS        *appsv1.StatefulSet
}

func (w workload) obj() Object { return Object{Kind: w.Kind, Name: w.Name} }

// workloads lists every workload of the namespace with a pod template.
func (r *runner) workloads() []workload {
	var out []workload
	for i := range r.s.Deployments {
		d := &r.s.Deployments[i]
		out = append(out, workload{Kind: app.KindDeployment, Name: d.Name, Component: app.ComponentNameForLabels(d.Spec.Template.Labels),
			Replicas: replicas(d.Spec.Replicas), Template: &d.Spec.Template, Deploy: d})
	}
	for i := range r.s.StatefulSets {
		st := &r.s.StatefulSets[i]
		out = append(out, workload{Kind: app.KindStatefulSet, Name: st.Name, Component: app.ComponentNameForLabels(st.Spec.Template.Labels),
			Replicas: replicas(st.Spec.Replicas), Template: &st.Spec.Template, STS: st})
	}
	for i := range r.s.CronJobs {
		cj := &r.s.CronJobs[i]
		out = append(out, workload{Kind: "CronJob", Name: cj.Name, Template: &cj.Spec.JobTemplate.Spec.Template})
	}
	for i := range r.s.Jobs {
		j := &r.s.Jobs[i]
		out = append(out, workload{Kind: "Job", Name: j.Name, Template: &j.Spec.Template})
	}
	return out
}

// component returns the workload of an app component: by its name in the
// environment, else the first workload of that kind whose pods carry its labels.
func (r *runner) component(name string) (workload, bool) {
	c, _ := app.LookupComponent(name)
	want := r.s.Env.WorkloadName(c)
	var fallback *workload
	for _, w := range r.workloads() {
		if w.Kind != c.Kind {
			continue
		}
		if w.Name == want {
			return w, true
		}
		if w.Component == name && fallback == nil {
			wc := w
			fallback = &wc
		}
	}
	if fallback != nil {
		return *fallback, true
	}
	return workload{}, false
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// appConfig returns the app ConfigMap's data (nil when absent).
func (r *runner) appConfig() map[string]string {
	if d, ok := r.s.ConfigMaps[r.s.Env.ConfigMap()]; ok {
		return d
	}
	return r.s.ConfigMaps[app.ConfigMapName]
}

// appConfigName returns the app ConfigMap's name as found.
func (r *runner) appConfigName() string {
	if _, ok := r.s.ConfigMaps[r.s.Env.ConfigMap()]; ok {
		return r.s.Env.ConfigMap()
	}
	if _, ok := r.s.ConfigMaps[app.ConfigMapName]; ok {
		return app.ConfigMapName
	}
	return r.s.Env.ConfigMap()
}

// placeholderRE finds the object placeholder of default fixes, by object kind.
var placeholderRE = map[string]*regexp.Regexp{
	"Pod":                     regexp.MustCompile(`\bPOD\b`),
	"HorizontalPodAutoscaler": regexp.MustCompile(`\bHPA\b`),
	"PersistentVolumeClaim":   regexp.MustCompile(`\bPVC\b`),
	"Certificate":             regexp.MustCompile(`\bNAME\b`),
}

func podObj(name string) Object { return Object{Kind: "Pod", Name: name} }

func truncate(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	// cut at a character's start: a log in Turkish must stay valid UTF-8
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

// appWorkloads returns the workloads of the app's components found.
func (r *runner) appWorkloads() []workload {
	var out []workload
	for _, c := range app.Components {
		if w, ok := r.component(c.Name); ok {
			out = append(out, w)
		}
	}
	return out
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
