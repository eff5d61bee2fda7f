// Package diagnose implements `kubectl piyasa diagnose`: the guide's
// Troubleshooting section as automated, read-only checks over one namespace.
// It reads each kind with one paged LIST (protobuf), keeps only what the
// checks need, and reports findings with stable codes (codes.go), a severity,
// the evidence and the command that fixes them.
package diagnose

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Config selects what Analyze runs.
type Config struct {
	Only, Skip  CodeSet
	MinSeverity Severity
	FailOn      Severity
	Probe       bool
	// EnvFileKeys are the key names of --env-file (nil: not given).
	EnvFileKeys []string
}

// Selected returns the codes that the configuration runs (--only, --skip, --probe).
func (cfg Config) Selected() []string {
	var out []string
	for i := range Codes {
		if cfg.selects(&Codes[i]) {
			out = append(out, Codes[i].ID)
		}
	}
	return out
}

func (cfg Config) selects(c *Code) bool {
	if c.Probe && !cfg.Probe {
		return false
	}
	if len(cfg.Only) > 0 && !cfg.Only[c.ID] {
		return false
	}
	return !cfg.Skip[c.ID]
}

// checks is the registry of diagnose's checks, one entry per area of codes.go
// (each in check_<area>.go), in the order they run: the events check comes
// after the others because it leaves out the objects they already reported.
var checks = []struct {
	area Area
	run  func(*runner, context.Context)
}{
	{AreaPods, (*runner).checkPods},
	{AreaPods, (*runner).checkWorkloads},
	{AreaPods, (*runner).checkCreate},
	{AreaReferences, (*runner).checkReferences},
	{AreaDatabase, (*runner).checkDatabase},
	{AreaDatabase, (*runner).checkBaseBackups},
	{AreaRedis, (*runner).checkRedis},
	{AreaWorkers, (*runner).checkWorkers},
	{AreaHPA, (*runner).checkHPAs},
	{AreaIngress, (*runner).checkIngresses},
	{AreaStorage, (*runner).checkStorage},
	{AreaPrerequisites, (*runner).checkPrerequisites},
	{AreaImages, (*runner).checkImages},
	{AreaSecurity, (*runner).checkSecurity},
	{AreaMonitoring, (*runner).checkMonitoring},
	{AreaEvents, (*runner).checkEvents},
	{AreaProbes, (*runner).checkProbes},
}

// Analyze runs every selected check over the snapshot. logs reads container
// logs for crash classification (nil: no log reads); prober runs the live
// probes when cfg.Probe is set.
func Analyze(ctx context.Context, s *Snapshot, cfg Config, logs LogFunc, prober Prober) *Report {
	r := newRunner(s, cfg, logs, prober)
	for _, c := range checks {
		before := len(r.checks)
		start := time.Now()
		c.run(r, ctx)
		// the checks an entry registered share its time (JUnit's time attribute)
		if n := len(r.checks) - before; n > 0 {
			per := time.Since(start) / time.Duration(n)
			for _, code := range r.order[before:] {
				r.checks[code].took = per
			}
		}
	}
	// checks left out with --skip are reported as skipped, not dropped
	for i := range Codes {
		c := &Codes[i]
		if cfg.Skip[c.ID] && (cfg.Probe || !c.Probe) && (len(cfg.Only) == 0 || cfg.Only[c.ID]) {
			r.checks[c.ID] = &CheckResult{Code: c.ID, Title: c.Title, Area: c.Area, Severity: c.Severity, Status: StatusSkipped, Reason: "not selected: --skip"}
		}
	}

	if cfg.FailOn == "" {
		cfg.FailOn = SeverityError
	}
	if cfg.MinSeverity == "" {
		cfg.MinSeverity = SeverityInfo
	}
	rep := &Report{Namespace: s.Namespace, Environment: s.Env.Name, GeneratedAt: s.Now.UTC().Truncate(time.Second), FailOn: cfg.FailOn,
		Findings: r.out, Notes: r.notes, Checks: make([]CheckResult, 0, len(r.checks))}
	for _, c := range r.checks {
		rep.Checks = append(rep.Checks, *c)
	}
	rep.Stats.Pods = len(s.Pods)
	rep.Region = r.region()
	rep.finish(cfg.MinSeverity)
	return rep
}

// KubeLogs returns a LogFunc reading logs through the API server.
func KubeLogs(c *Clients, ns string) LogFunc {
	return func(ctx context.Context, pod, container string, previous bool, tail int64) (string, error) {
		b, err := c.Kube.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{Container: container, Previous: previous, TailLines: &tail}).DoRaw(ctx)
		return string(b), err
	}
}
