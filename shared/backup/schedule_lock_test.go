package backup

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/oplock"
)

const runNowNS = "piyasa-chatbot-dev"

func backupCronJob() *batchv1.CronJob {
	return &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "dev-db-backup", Namespace: runNowNS, UID: "cj-uid"},
		Spec: batchv1.CronJobSpec{Schedule: "0 2 * * *"}}
}

func runNow(tt *clitest.T) error {
	o := &ScheduleRunNowOptions{scheduleBase: scheduleBase{newBase(tt.Global)}, Timeout: time.Minute}
	if err := o.Complete(nil, nil); err != nil {
		return err
	}
	return o.Run(context.Background())
}

// TestRunNowHoldsTheLockWhileItsJobRuns: run-now takes the database lock
// (operation "backup run-now") naming its Job before creating it; when it
// stops waiting (here: --timeout) the lock stays with the running Job, and
// is free once the Job ended.
func TestRunNowHoldsTheLockWhileItsJobRuns(t *testing.T) {
	tt := clitest.New(runNowNS, backupCronJob())
	var atCreate *coordinationv1.Lease
	tt.Fake.PrependReactor("create", "jobs", func(a k8stesting.Action) (bool, runtime.Object, error) {
		// (the tracker, not the client: a reactor runs under the fake's lock)
		if o, err := tt.Fake.Tracker().Get(coordinationv1.SchemeGroupVersion.WithResource("leases"), runNowNS, "dev-piyasa-migrate"); err == nil {
			atCreate = o.(*coordinationv1.Lease)
		}
		return false, nil, nil
	})
	o := &ScheduleRunNowOptions{scheduleBase: scheduleBase{newBase(tt.Global)}, Timeout: time.Second}
	_ = o.Complete(nil, nil)
	err := o.Run(context.Background())
	if e := cli.Classify(err, ""); err == nil || !strings.Contains(e.Msg, "holds the database lock") {
		t.Fatalf("run-now past its timeout: %v", err)
	}
	list, _ := tt.Fake.BatchV1().Jobs(runNowNS).List(context.Background(), metav1.ListOptions{})
	if len(list.Items) != 1 {
		t.Fatalf("Jobs: %d", len(list.Items))
	}
	j := list.Items[0]
	if atCreate == nil || atCreate.Annotations[app.LockOperationAnnotation] != oplock.OperationBackupRunNow || atCreate.Annotations[app.MigrationJobAnnotation] != j.Name {
		t.Errorf("lock when the Job was created: %+v", atCreate)
	}
	later := clitest.Fixed.Add(time.Minute)
	if info, _, _ := oplock.DescribeLock(context.Background(), tt.Fake, runNowNS, "dev-piyasa-migrate", later); !info.Held || info.Job != j.Name {
		t.Errorf("lock while the Job runs on: %+v", info)
	}
	j.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	_, _ = tt.Fake.BatchV1().Jobs(runNowNS).UpdateStatus(context.Background(), &j, metav1.UpdateOptions{})
	if info, _, _ := oplock.DescribeLock(context.Background(), tt.Fake, runNowNS, "dev-piyasa-migrate", later); info.Held {
		t.Errorf("lock after the Job ended: %+v", info)
	}
}

// TestRunNowRefusedWhileLocked: while a migration holds the lock, run-now
// exits 1 naming it and starts no Job.
func TestRunNowRefusedWhileLocked(t *testing.T) {
	who := "alice@h (pid 7)"
	now := metav1.NewMicroTime(clitest.Fixed)
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "dev-piyasa-migrate", Namespace: runNowNS,
		Annotations: map[string]string{app.LockOperationAnnotation: "migrate up head"}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &who, AcquireTime: &now, RenewTime: &now}}
	tt := clitest.New(runNowNS, backupCronJob(), l)
	err := runNow(tt)
	if e := cli.Classify(err, ""); err == nil || e.Code != cli.ExitFailed || !strings.Contains(e.Msg, "migrate up head by "+who) {
		t.Fatalf("run-now under a migration: %v", err)
	}
	if list, _ := tt.Fake.BatchV1().Jobs(runNowNS).List(context.Background(), metav1.ListOptions{}); len(list.Items) != 0 {
		t.Errorf("a Job was started: %d", len(list.Items))
	}
}

// TestCreateSpecKind: a backup another command takes through Create records
// the kind it gives (migrate --backup-first: pre-migration) in its BackupInfo.
func TestCreateSpecKind(t *testing.T) {
	dir := t.TempDir()
	tg := clitest.New("piyasa-chatbot-dev", postgresPod("piyasa-chatbot-dev"))
	if err := tg.Global.Complete(); err != nil {
		t.Fatal(err)
	}
	info, err := Create(context.Background(), tg.Global, CreateSpec{Dir: dir, Executor: &fakeExec{stdout: sampleDump}, Kind: KindPreMigration})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, info.Name+MetadataSuffix))
	if err != nil {
		t.Fatal(err)
	}
	if stored, err := ParseInfo(raw); err != nil || stored.BackupKind != KindPreMigration || info.BackupKind != KindPreMigration {
		t.Errorf("kind %q (returned %q): %v", stored.BackupKind, info.BackupKind, err)
	}
}
