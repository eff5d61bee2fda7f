package migrate

import (
	"context"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

func finishedMigrationJob(ns, name string, ago time.Duration) *batchv1.Job {
	at := metav1.NewTime(clitest.Fixed.Add(-ago))
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, CreationTimestamp: at, Labels: map[string]string{app.MigrationLabel: "true"}},
		Status:     batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: at}}},
	}
}

// TestJobsCleanupDryRunSaysWouldDelete: a dry run keeps the suite's rule
// (the newest app.KeepFinishedMigrationJobs finished Jobs) and says "would
// delete", never "deleted".
func TestJobsCleanupDryRunSaysWouldDelete(t *testing.T) {
	ns := "piyasa-chatbot-dev"
	var objs []runtime.Object
	for i, name := range []string{"dev-db-migrate-1", "dev-db-migrate-2", "dev-db-migrate-3", "dev-db-migrate-4", "dev-db-migrate-5"} {
		objs = append(objs, finishedMigrationJob(ns, name, time.Duration(50-i)*24*time.Hour))
	}
	tt := clitest.New(ns, objs...)
	root := NewCmd(tt.Global)
	root.SetArgs([]string{"jobs", "--cleanup", "--dry-run=client"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatal(err)
	}
	stdout, stderr := tt.Output()
	if strings.Contains(stdout, "(deleted)") || strings.Contains(stderr, "job.batch/") || !strings.Contains(stdout, "Complete (would delete)") ||
		!strings.Contains(stderr, "would delete 2 finished migration Jobs") || strings.Count(stdout, "(would delete)") != 5-app.KeepFinishedMigrationJobs {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}
	for _, a := range tt.Fake.Actions() {
		if a.GetVerb() == "delete" {
			t.Errorf("a client dry run deleted: %v", a)
		}
	}
}
