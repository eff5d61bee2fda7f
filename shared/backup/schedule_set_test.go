package backup

import (
	"context"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

// TestScheduleSetRecordsWhatItSet: set says old -> new and records the
// fields it changed on the CronJob (deploy keeps those), adding to earlier sets.
func TestScheduleSetRecordsWhatItSet(t *testing.T) {
	ns := "piyasa-chatbot-dev"
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "dev-db-backup", Namespace: ns}, Spec: batchv1.CronJobSpec{Schedule: "0 2 * * *"}}
	cj.Spec.JobTemplate.Spec.Template.Spec.Containers = []corev1.Container{{Name: "backup", Env: []corev1.EnvVar{{Name: EnvKeepDaily, Value: "7"}}}}
	tt := clitest.New(ns, cj)
	for _, args := range [][]string{{"set", "--keep-daily", "5"}, {"set", "--cron", "0 * * * *"}} {
		cmd := NewCmdSchedule(tt.Global)
		cmd.SetArgs(args)
		if err := cmd.ExecuteContext(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	out, _ := tt.Output()
	if !strings.Contains(out, "KEEP_DAILY 7 -> 5") || !strings.Contains(out, "schedule 0 2 * * * -> 0 * * * *") {
		t.Errorf("stdout %q", out)
	}
	got, err := tt.Fake.BatchV1().CronJobs(ns).Get(context.Background(), "dev-db-backup", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a := got.Annotations[app.ScheduleSetAnnotation]; a != "schedule,KEEP_DAILY" {
		t.Errorf("annotation %q", a)
	}
}
