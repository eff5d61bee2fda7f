package backup_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/piyasa/kubectl-piyasa/shared/backup"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// applyCronJob creates the manifests' backup CronJob as the dev overlay names
// it (its volume an emptyDir: no storage provisioner here, and kwok runs nothing).
func applyCronJob(t *testing.T, ns string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "manifests", "base", "backup.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range strings.Split(string(raw), "\n---\n") {
		if !strings.Contains(doc, "kind: CronJob") {
			continue
		}
		var cj batchv1.CronJob
		if err := yaml.Unmarshal([]byte(doc), &cj); err != nil {
			t.Fatal(err)
		}
		cj.Name = "dev-db-backup"
		for i := range cj.Spec.JobTemplate.Spec.Template.Spec.Volumes {
			v := &cj.Spec.JobTemplate.Spec.Template.Spec.Volumes[i]
			v.VolumeSource = corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
		}
		if _, err := harness.Client(t).BatchV1().CronJobs(ns).Create(context.Background(), &cj, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Fatal("no CronJob in manifests/base/backup.yaml")
}

func scheduleDoc(t *testing.T, ns string) backup.Schedule {
	t.Helper()
	r := harness.Piyasa(t, "backup", "schedule", "show", "--env", "dev", "-n", ns, "-o", "json").RunOK()
	var s backup.Schedule
	if err := json.Unmarshal([]byte(r.Stdout), &s); err != nil || !strings.Contains(r.Stdout, `"kind": "BackupSchedule"`) {
		t.Fatalf("schedule show -o json: %v\n%s", err, r.Stdout)
	}
	return s
}

// TestSchedule: schedule show/set/suspend/resume/run-now against the CronJob of the manifests.
func TestSchedule(t *testing.T) {
	ns := harness.Namespace(t, "backup-sched")
	applyCronJob(t, ns)
	sch := func(args ...string) *harness.Cmd {
		return harness.Piyasa(t, append(append([]string{"backup", "schedule"}, args...), "--env", "dev", "-n", ns)...)
	}
	s := scheduleDoc(t, ns)
	if s.Schedule != "0 2 * * *" || s.TimeZone != "Etc/UTC" || s.KeepDaily != 7 || s.KeepWeekly != 4 || s.KeepMonthly != 12 || s.Suspended || s.NextRun == nil {
		t.Fatalf("initial schedule %+v", s)
	}
	if s.NextRun.Hour() != 2 || s.NextRun.Minute() != 0 || !s.NextRun.After(time.Now()) {
		t.Errorf("next run %s", s.NextRun)
	}

	sch("set", "--cron", "30 3 * * 1", "--keep-daily", "5", "--keep-monthly", "6").RunOK()
	s = scheduleDoc(t, ns)
	if s.Schedule != "30 3 * * 1" || s.KeepDaily != 5 || s.KeepWeekly != 4 || s.KeepMonthly != 6 || s.NextRun.Weekday() != time.Monday {
		t.Fatalf("after set: %+v", s)
	}
	for _, bad := range [][]string{{"set", "--cron", "61 * * * *"}, {"set", "--cron", "every day"}, {"set"}, {"set", "--keep-daily", "0"}} {
		r := sch(bad...).ExpectCode(2)
		if !strings.Contains(r.Stderr, "error:") {
			t.Errorf("%v: %s", bad, r.Stderr)
		}
	}
	if got := scheduleDoc(t, ns); got.Schedule != "30 3 * * 1" {
		t.Errorf("a refused set changed the schedule to %q", got.Schedule)
	}

	sch("suspend").RunOK()
	if s = scheduleDoc(t, ns); !s.Suspended || s.NextRun != nil {
		t.Errorf("after suspend: %+v", s)
	}
	sch("resume").RunOK()
	if s = scheduleDoc(t, ns); s.Suspended || s.NextRun == nil {
		t.Errorf("after resume: %+v", s)
	}
	r := sch("show").RunOK()
	if !strings.Contains(r.Stdout, "30 3 * * 1 Etc/UTC") || !strings.Contains(r.Stdout, "5/4/6") {
		t.Errorf("show table:\n%s", r.Stdout)
	}

	r = sch("run-now", "--timeout", "2m").RunOK()
	if !strings.Contains(r.Stdout, "completed") {
		t.Errorf("run-now: %s\n%s", r.Stdout, r.Stderr)
	}
	jobs, err := harness.Client(t).BatchV1().Jobs(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(jobs.Items) != 1 || !strings.HasPrefix(jobs.Items[0].Name, "dev-db-backup-manual-") ||
		len(jobs.Items[0].OwnerReferences) != 1 || jobs.Items[0].OwnerReferences[0].Name != "dev-db-backup" ||
		metav1.GetControllerOf(&jobs.Items[0]) != nil {
		t.Fatalf("jobs after run-now (owned by the CronJob, not controlled): %v %+v", err, jobs)
	}
	// The CronJob controller leaves a Job it does not control alone: no
	// UnexpectedJob warning (diagnose's PIY950 for an hour).
	time.Sleep(2 * time.Second)
	evs, err := harness.Client(t).CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs.Items {
		if ev.Reason == "UnexpectedJob" {
			t.Errorf("the CronJob controller warned: %s %s", ev.Reason, ev.Message)
		}
	}

	// No CronJob: exit 1 with the way out.
	other := harness.Namespace(t, "backup-nocj")
	r = harness.Piyasa(t, "backup", "schedule", "show", "--env", "dev", "-n", other).ExpectCode(1)
	if !strings.Contains(r.Stderr, "no CronJob dev-db-backup") {
		t.Errorf("stderr: %s", r.Stderr)
	}
}
