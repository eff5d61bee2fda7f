package diagnose

import (
	"context"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// baseCronJob adds the base backup CronJob on schedule, made 30 days before
// the snapshot, last successful lastOK ago (never when 0).
func baseCronJob(schedule string, lastOK time.Duration, suspended bool) func(*Snapshot) {
	return func(s *Snapshot) {
		cj := batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "dev-db-basebackup", CreationTimestamp: metav1.NewTime(s.Now.Add(-30 * 24 * time.Hour))},
			Spec: batchv1.CronJobSpec{Schedule: schedule, Suspend: ptr.To(suspended)}}
		if lastOK > 0 {
			cj.Status.LastSuccessfulTime = ptr.To(metav1.NewTime(s.Now.Add(-lastOK)))
		}
		s.CronJobs = append(s.CronJobs, cj)
	}
}

func TestCheckBaseBackups(t *testing.T) {
	day := 24 * time.Hour
	runAreaCases(t, AreaDatabase, []areaCase{
		{name: "daily, 3 days old", code: "PIY981", msg: `no base backup for 3 days: CronJob dev-db-basebackup ("30 3 * * *") last succeeded`,
			fix: "backup schedule run-now --physical", break_: baseCronJob("30 3 * * *", 3*day+time.Hour, false)},
		{name: "never succeeded", code: "PIY981", msg: "no base backup for 30 days", break_: baseCronJob("30 3 * * *", 0, false)},
		{name: "weekly, 15 days old", code: "PIY981", msg: "no base backup for 15 days", break_: baseCronJob("0 3 * * 0", 15*day, false)},
	})
	for _, c := range []struct {
		name   string
		break_ func(*Snapshot)
	}{
		{"daily, 1 day old", baseCronJob("30 3 * * *", day, false)},
		{"weekly, 10 days old", baseCronJob("0 3 * * 0", 10*day, false)},
		{"suspended, never", baseCronJob("30 3 * * *", 0, true)},
	} {
		s := healthySnapshot()
		c.break_(s)
		rep := Analyze(context.Background(), s, Config{Only: CodeSet{"PIY981": true}}, nil, nil)
		if len(rep.Findings) != 0 || len(rep.Checks) != 1 || rep.Checks[0].Status != StatusPassed {
			t.Errorf("%s: findings %+v checks %+v", c.name, rep.Findings, rep.Checks)
		}
	}
}
