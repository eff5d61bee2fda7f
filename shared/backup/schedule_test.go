package backup

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // Europe/Istanbul on machines without a zoneinfo database

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

// runSchedule runs `backup schedule ARGS...` on tt as the binary does.
func runSchedule(tt *clitest.T, args ...string) error {
	cmd := NewCmdSchedule(tt.Global)
	cmd.SetArgs(args)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	return cmd.ExecuteContext(context.Background())
}

// failedJob is a Job of the CronJob (owner uid) that failed at t.
func failedJob(name string, owner string, t time.Time, reason, msg string) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: runNowNS,
			OwnerReferences: []metav1.OwnerReference{{Kind: "CronJob", Name: "dev-db-backup", UID: k8stypes.UID("uid-" + owner)}}},
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.NewTime(t), Reason: reason, Message: msg}}},
	}
}

// TestScheduleShow: show reads the schedule, the retention (defaults for
// what the CronJob does not set), the next run in the CronJob's time zone,
// and the newest failure among the CronJob's own Jobs with its reason.
func TestScheduleShow(t *testing.T) {
	last := clitest.Fixed.Add(-25 * time.Hour)
	cj := backupCronJob()
	cj.UID = "uid-cj"
	cj.Spec.TimeZone = ptr.To("Europe/Istanbul")
	cj.Spec.JobTemplate.Spec.Template.Spec.Containers = []corev1.Container{{Name: "backup", Env: []corev1.EnvVar{
		{Name: EnvKeepDaily, Value: "3"}, {Name: EnvKeepWeekly, Value: "not a number"},
		{Name: EnvKeepMonthly, ValueFrom: &corev1.EnvVarSource{}}}}}
	cj.Status.LastSuccessfulTime = &metav1.Time{Time: last}
	cj.Status.LastScheduleTime = &metav1.Time{Time: last}
	objs := []runtime.Object{cj,
		failedJob("dev-db-backup-1", "cj", clitest.Fixed.Add(-2*time.Hour), "BackoffLimitExceeded", "Job has reached the specified backoff limit"),
		failedJob("dev-db-backup-2", "cj", clitest.Fixed.Add(-5*time.Hour), "DeadlineExceeded", ""),
		failedJob("other-job", "someone-else", clitest.Fixed.Add(-time.Hour), "Other", ""),
	}

	tt := clitest.New(runNowNS, objs...)
	if err := runSchedule(tt, "show", "-o", "json"); err != nil {
		t.Fatal(err)
	}
	out, _ := tt.Output()
	var s Schedule
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// 02:00 in Istanbul (UTC+3) is 23:00 UTC; the clock is 03:00 UTC.
	wantNext := time.Date(2026, 12, 1, 23, 0, 0, 0, time.UTC)
	if s.CronJob != "dev-db-backup" || s.Schedule != "0 2 * * *" || s.TimeZone != "Europe/Istanbul" || s.Suspended ||
		s.NextRun == nil || !s.NextRun.Equal(wantNext) || s.KeepDaily != 3 || s.KeepWeekly != 4 || s.KeepMonthly != 12 ||
		s.LastSuccess == nil || !s.LastSuccess.Equal(last) || s.LastSchedule == nil {
		t.Errorf("schedule %+v (next %v)", s, s.NextRun)
	}
	if f := s.LastFailure; f == nil || f.Job != "dev-db-backup-1" || f.Reason != "BackoffLimitExceeded: Job has reached the specified backoff limit" {
		t.Errorf("last failure %+v", f)
	}

	tt = clitest.New(runNowNS, objs...)
	if err := runSchedule(tt, "show"); err != nil {
		t.Fatal(err)
	}
	out, _ = tt.Output()
	for _, want := range []string{"0 2 * * * Europe/Istanbul", "2026-12-01T23:00:00Z", last.Format(time.RFC3339),
		"dev-db-backup-1 (BackoffLimitExceeded: Job has reached", "3/4/12"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

// TestScheduleShowSuspendedNeverRan: a suspended CronJob has no next run; one
// that never succeeded says never; without failures the column is a dash.
func TestScheduleShowSuspendedNeverRan(t *testing.T) {
	cj := backupCronJob()
	cj.Spec.Suspend = ptr.To(true)
	tt := clitest.New(runNowNS, cj)
	if err := runSchedule(tt, "show"); err != nil {
		t.Fatal(err)
	}
	out, _ := tt.Output()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("table %q", out)
	}
	f := strings.Fields(lines[1])
	// CRONJOB SCHEDULE(5 fields) SUSPENDED NEXT LAST-SUCCESS LAST-FAILURE KEEP
	if len(f) != 11 || f[6] != "true" || f[7] != "-" || f[8] != "never" || f[9] != "-" || f[10] != "7/4/12" {
		t.Errorf("row %q", f)
	}
}

// TestScheduleMissingCronJob: every schedule command on a namespace without
// the CronJob fails with exit 1 and says how to deploy it.
func TestScheduleMissingCronJob(t *testing.T) {
	for _, args := range [][]string{{"show"}, {"suspend"}, {"resume"}, {"set", "--keep-daily", "2"}, {"run-now"}} {
		t.Run(args[0], func(t *testing.T) {
			tt := clitest.New(runNowNS)
			err := runSchedule(tt, args...)
			e := cli.Classify(err, "")
			if err == nil || e.Code != cli.ExitFailed || !strings.Contains(e.Msg, "no CronJob dev-db-backup in namespace "+runNowNS) ||
				!strings.Contains(e.Hint, "kubectl piyasa deploy -n "+runNowNS) {
				t.Errorf("err %v (%+v)", err, e)
			}
		})
	}
}

// TestScheduleSuspendResume: suspend and resume set spec.suspend and say so.
func TestScheduleSuspendResume(t *testing.T) {
	tt := clitest.New(runNowNS, backupCronJob())
	get := func() *bool {
		cj, err := tt.Fake.BatchV1().CronJobs(runNowNS).Get(context.Background(), "dev-db-backup", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cj.Spec.Suspend
	}
	if err := runSchedule(tt, "suspend"); err != nil {
		t.Fatal(err)
	}
	if s := get(); s == nil || !*s {
		t.Errorf("after suspend: %v", s)
	}
	if err := runSchedule(tt, "resume"); err != nil {
		t.Fatal(err)
	}
	if s := get(); s == nil || *s {
		t.Errorf("after resume: %v", s)
	}
	if out, _ := tt.Output(); out != "cronjob dev-db-backup suspended\ncronjob dev-db-backup resumed\n" {
		t.Errorf("stdout %q", out)
	}
}

// TestScheduleSetValidate: set without anything to set, a bad cron, and
// counts out of range are bad input (exit 2), and the CronJob is unchanged.
func TestScheduleSetValidate(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"set"}, "nothing to set"},
		{[]string{"set", "--cron", "61 * * * *"}, `invalid --cron "61 * * * *"`},
		{[]string{"set", "--cron", "0 2 * *"}, "invalid --cron"},
		{[]string{"set", "--keep-daily", "0"}, "--keep-daily must be at least 1"},
		{[]string{"set", "--keep-weekly", "-1"}, "must not be negative"},
		{[]string{"set", "--keep-monthly", "-2"}, "must not be negative"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			tt := clitest.New(runNowNS, backupCronJob())
			err := runSchedule(tt, c.args...)
			if e := cli.Classify(err, ""); err == nil || e.Code != cli.ExitUsage || !strings.Contains(e.Msg, c.want) {
				t.Errorf("err %v", err)
			}
			for _, a := range tt.Fake.Actions() {
				if a.GetVerb() == "update" {
					t.Errorf("updated: %v", a)
				}
			}
		})
	}
}

// TestScheduleSetUnchangedAndNoContainer: setting the values the CronJob
// already has says unchanged; a CronJob without a container is refused.
func TestScheduleSetUnchangedAndNoContainer(t *testing.T) {
	cj := backupCronJob()
	cj.Spec.JobTemplate.Spec.Template.Spec.Containers = []corev1.Container{{Name: "backup", Env: []corev1.EnvVar{{Name: EnvKeepDaily, Value: "7"}}}}
	tt := clitest.New(runNowNS, cj)
	if err := runSchedule(tt, "set", "--cron", "0 2 * * *", "--keep-daily", "7"); err != nil {
		t.Fatal(err)
	}
	if out, _ := tt.Output(); out != "cronjob dev-db-backup updated: unchanged (kept by deploy)\n" {
		t.Errorf("stdout %q", out)
	}
	tt = clitest.New(runNowNS, backupCronJob())
	err := runSchedule(tt, "set", "--keep-weekly", "2")
	if e := cli.Classify(err, ""); err == nil || e.Code != cli.ExitFailed || !strings.Contains(e.Msg, "has no container") {
		t.Errorf("no container: %v", err)
	}
}

// TestRunNowPrintLog: the log of the Job's newest pod goes to stderr; a
// Job without a pod is said, not an error.
func TestRunNowPrintLog(t *testing.T) {
	old := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "j-old", Namespace: runNowNS, Labels: map[string]string{"job-name": "j"},
		CreationTimestamp: metav1.NewTime(clitest.Fixed.Add(-time.Hour))}}
	newest := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "j-new", Namespace: runNowNS, Labels: map[string]string{"job-name": "j"},
		CreationTimestamp: metav1.NewTime(clitest.Fixed)}}
	tt := clitest.New(runNowNS, old, newest)
	o := &ScheduleRunNowOptions{scheduleBase: scheduleBase{newBase(tt.Global)}, Timeout: time.Minute}
	if err := o.Complete(nil, nil); err != nil {
		t.Fatal(err)
	}
	o.printLog(context.Background(), tt.Fake, "j")
	o.printLog(context.Background(), tt.Fake, "k")
	if _, stderr := tt.Output(); stderr != "fake logs\n(no pod of job k to show the log of)\n" {
		t.Errorf("stderr %q", stderr)
	}
}

// TestRunNowValidate: --timeout must be positive (exit 2, no Job).
func TestRunNowValidate(t *testing.T) {
	tt := clitest.New(runNowNS, backupCronJob())
	err := runSchedule(tt, "run-now", "--timeout", "0s")
	if e := cli.Classify(err, ""); err == nil || e.Code != cli.ExitUsage || !strings.Contains(e.Msg, "--timeout must be positive") {
		t.Errorf("--timeout 0: %v", err)
	}
	if list, _ := tt.Fake.BatchV1().Jobs(runNowNS).List(context.Background(), metav1.ListOptions{}); len(list.Items) != 0 {
		t.Errorf("a Job was started")
	}
}
