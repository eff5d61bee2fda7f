package diagnose

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/robfig/cron/v3"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// BaseBackupMinAge is the least age of the newest scheduled base backup that
// PIY981 reports, whatever the schedule: a run may fail once and succeed at
// the next without a finding.
const BaseBackupMinAge = 48 * time.Hour

var baseCronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// baseBackupLimit is how old the newest base backup of a CronJob on
// schedule may be: two of its intervals, at least BaseBackupMinAge.
func baseBackupLimit(schedule string, now time.Time) time.Duration {
	limit := BaseBackupMinAge
	if s, err := baseCronParser.Parse(schedule); err == nil {
		a := s.Next(now)
		if d := 2 * s.Next(a).Sub(a); d > limit {
			limit = d
		}
	}
	return limit
}

// checkBaseBackups reads the base backup CronJob (`backup schedule set
// --physical`), when there is one and it is not suspended (PIY981): its
// status.lastSuccessfulTime (or, never successful, its creation) older than
// baseBackupLimit means point-in-time restores replay ever more WAL, and the
// WAL before the newest base backup cannot be pruned.
func (r *runner) checkBaseBackups(context.Context) {
	if !r.begin("PIY981", KindCronJobs) {
		return
	}
	name := r.s.Env.ObjectName(app.BaseBackupCronJob)
	var cj *batchv1.CronJob
	for i := range r.s.CronJobs {
		if r.s.CronJobs[i].Name == name {
			cj = &r.s.CronJobs[i]
		}
	}
	if cj == nil || (cj.Spec.Suspend != nil && *cj.Spec.Suspend) {
		return
	}
	since, what := cj.CreationTimestamp.Time, "has never succeeded since it was made"
	if t := cj.Status.LastSuccessfulTime; t != nil {
		since, what = t.Time, "last succeeded"
	}
	age, limit := r.s.Now.Sub(since), baseBackupLimit(cj.Spec.Schedule, r.s.Now)
	if since.IsZero() || age <= limit {
		return
	}
	days := int(age / (24 * time.Hour))
	r.add("PIY981", app.Postgres, Object{Kind: "CronJob", Name: cj.Name},
		fmt.Sprintf("no base backup for %d days: CronJob %s (%q) %s %s", days, cj.Name, cj.Spec.Schedule, what, since.UTC().Format(time.RFC3339)),
		[]string{fmt.Sprintf("status.lastSuccessfulTime %s, older than %s (two runs of the schedule, at least %s)", orNone(timeOrEmpty(cj.Status.LastSuccessfulTime)), limit, BaseBackupMinAge)},
		"")
}

// timeOrEmpty is t in RFC 3339 ("" when nil).
func timeOrEmpty(t *metav1.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}
