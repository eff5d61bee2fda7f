package oplock

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

var t0 = time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)

func clock(t *time.Time) func() time.Time { return func() time.Time { return *t } }

func TestLockAcquireContendRelease(t *testing.T) {
	ctx := context.Background()
	cs := fake.NewClientset()
	now := t0
	a := Holder{Identity: "alice@h1 (pid 1)", User: "alice@h1"}
	b := Holder{Identity: "bob@h2 (pid 2)", User: "bob@h2"}
	la, err := Acquire(ctx, cs, "ns", "dev-piyasa-migrate", a, "migrate up", clock(&now))
	if err != nil || la.TookOver != nil {
		t.Fatalf("first acquire: %v %+v", err, la)
	}
	if err := la.SetJob(ctx, "dev-db-migrate-1"); err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(ctx, cs, "ns", "dev-piyasa-migrate", b, "migrate up", clock(&now))
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("second acquire: %v, want HeldError", err)
	}
	msg := held.Error()
	for _, want := range []string{"alice@h1 (pid 1)", "dev-db-migrate-1", "2026-12-01T03:00:00Z", "migrate up by "} {
		if !strings.Contains(msg, want) {
			t.Errorf("HeldError %q lacks %q", msg, want)
		}
	}
	// Renewal keeps it held past the first duration.
	now = now.Add(LeaseDuration - time.Second)
	if err := la.Renew(ctx); err != nil {
		t.Fatal(err)
	}
	now = now.Add(LeaseDuration - time.Second)
	if _, err := Acquire(ctx, cs, "ns", "dev-piyasa-migrate", b, "migrate up", clock(&now)); !errors.As(err, &held) {
		t.Fatalf("renewed lease taken: %v", err)
	}
	if err := la.Release(ctx); err != nil {
		t.Fatal(err)
	}
	lb, err := Acquire(ctx, cs, "ns", "dev-piyasa-migrate", b, "migrate up", clock(&now))
	if err != nil || lb.TookOver != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	// A release by a holder that lost the Lease leaves the new holder's.
	if err := la.Release(ctx); err != nil {
		t.Fatal(err)
	}
	info, _, _ := DescribeLock(ctx, cs, "ns", "dev-piyasa-migrate", now)
	if !info.Held || info.Holder != b.Identity {
		t.Fatalf("after a stale release: %+v", info)
	}
}

func TestLockExpiredTakenOverUnlessJobRuns(t *testing.T) {
	ctx := context.Background()
	running := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "job-running", Namespace: "ns"}}
	done := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "job-done", Namespace: "ns"},
		Status: batchv1.JobStatus{Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}}
	for _, tc := range []struct {
		job      string
		takeOver bool
	}{{"job-running", false}, {"job-done", true}, {"job-gone", true}, {"", true}} {
		cs := fake.NewClientset(running, done)
		now := t0
		old := Holder{Identity: "ghost@gone (pid 9)", User: "ghost@gone"}
		l, err := Acquire(ctx, cs, "ns", "L", old, "migrate up", clock(&now))
		if err != nil {
			t.Fatal(err)
		}
		if tc.job != "" {
			if err := l.SetJob(ctx, tc.job); err != nil {
				t.Fatal(err)
			}
		}
		now = now.Add(LeaseDuration + time.Second) // the holder stopped renewing
		nl, err := Acquire(ctx, cs, "ns", "L", Holder{Identity: "new (pid 3)", User: "new"}, "restore x.sql.zst", clock(&now))
		if tc.takeOver {
			if err != nil || nl.TookOver == nil || nl.TookOver.Holder != old.Identity {
				t.Errorf("job %q: expired lease not taken over: %v", tc.job, err)
			}
			info, _, _ := DescribeLock(ctx, cs, "ns", "L", now)
			if info.Holder != "new (pid 3)" || info.Job != "" || !info.Held {
				t.Errorf("job %q: after take-over: %+v", tc.job, info)
			}
		} else {
			var held *HeldError
			if !errors.As(err, &held) || held.Info.JobState != "Running" {
				t.Errorf("job %q: expired lease of a running Job taken: %v", tc.job, err)
			}
		}
	}
}

func TestLockDetachFollowsTheJob(t *testing.T) {
	ctx := context.Background()
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j", Namespace: "ns"}}
	cs := fake.NewClientset(job)
	now := t0
	l, _ := Acquire(ctx, cs, "ns", "L", Holder{Identity: "a"}, "migrate up", clock(&now))
	_ = l.SetJob(ctx, "j")
	if err := l.Detach(ctx); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Second)
	if _, err := Acquire(ctx, cs, "ns", "L", Holder{Identity: "b"}, "migrate up", clock(&now)); err == nil {
		t.Fatal("detached lease of a running Job taken")
	}
	job.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobFailed, Status: corev1.ConditionTrue}}
	if _, err := cs.BatchV1().Jobs("ns").UpdateStatus(ctx, job, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := Acquire(ctx, cs, "ns", "L", Holder{Identity: "b"}, "migrate up", clock(&now)); err != nil {
		t.Fatalf("detached lease of a finished Job not taken: %v", err)
	}
	lease, _ := cs.CoordinationV1().Leases("ns").Get(ctx, "L", metav1.GetOptions{})
	if lease.Labels[app.MigrationLabel] != "true" || *lease.Spec.LeaseDurationSeconds != int32(LeaseDuration/time.Second) {
		t.Errorf("lease after take-over: %+v", lease)
	}
}

// TestAcquireRefusedWhileABackupJobRuns: a running Job of the backup CronJob
// (controlled by <prefix>db-backup, or labelled app=piyasa-backup) holds the
// lock: Acquire is refused naming it; a finished one, another env's or
// another CronJob's does not.
func TestAcquireRefusedWhileABackupJobRuns(t *testing.T) {
	ctx := context.Background()
	start := metav1.NewTime(t0.Add(-5 * time.Minute))
	owned := func(name, cron string) *batchv1.Job {
		j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns",
			OwnerReferences: []metav1.OwnerReference{{Kind: "CronJob", Name: cron, Controller: ptr(true), APIVersion: "batch/v1"}}},
			Status: batchv1.JobStatus{StartTime: &start}}
		return j
	}
	labelled := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "restored-by-hand", Namespace: "ns"}}
	labelled.Spec.Template.Labels = map[string]string{"app": app.BackupAppLabel}
	manual := owned("dev-db-backup-manual-1", "dev-db-backup")
	manual.Annotations = map[string]string{"cronjob.kubernetes.io/instantiate": "manual"}
	finished := owned("dev-db-backup-29000000", "dev-db-backup")
	finished.Status.Conditions = []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}
	for _, tc := range []struct {
		name    string
		job     *batchv1.Job
		op, who string
	}{
		{"scheduled", owned("dev-db-backup-29000001", "dev-db-backup"), OperationScheduledBackup, "the backup CronJob dev-db-backup"},
		{"run-now", manual, OperationBackupRunNow, "the backup CronJob dev-db-backup"},
		{"labelled", labelled, OperationScheduledBackup, "the backup CronJob dev-db-backup"},
		{"finished", finished, "", ""},
		{"other env", owned("prod-db-backup-1", "db-backup"), "", ""},
		{"other cronjob", owned("report-1", "dev-report"), "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fake.NewClientset(tc.job)
			now := t0
			_, err := Acquire(ctx, cs, "ns", "dev-piyasa-migrate", Holder{Identity: "me"}, "migrate up head", clock(&now))
			if tc.op == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var held *HeldError
			if !errors.As(err, &held) {
				t.Fatalf("acquire: %v, want HeldError", err)
			}
			i := held.Info
			if i.Operation != tc.op || i.Holder != tc.who || i.Job != tc.job.Name || !i.Alive() {
				t.Errorf("holder: %+v", i)
			}
			if !strings.Contains(held.Error(), tc.op+" by "+tc.who) {
				t.Errorf("message: %s", held.Error())
			}
			if _, err := cs.CoordinationV1().Leases("ns").Get(ctx, "dev-piyasa-migrate", metav1.GetOptions{}); err == nil {
				t.Error("a Lease was created")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// A holder killed on this machine (kill -9) is gone at once: its Lease is
// taken over without waiting for it to run out. A live local holder, and a
// holder of another machine, are not.
func TestLocalHolderGone(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("processes are not looked at on Windows")
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("no true command:", err)
	}
	host, _ := os.Hostname()
	dead := cmd.Process.Pid
	ctx := context.Background()
	now := t0
	for _, c := range []struct {
		identity string
		gone     bool
	}{
		{fmt.Sprintf("alice@%s (pid %d)", host, dead), true},
		{fmt.Sprintf("alice@%s (pid %d)", host, os.Getppid()), false},
		{fmt.Sprintf("alice@elsewhere-%s (pid %d)", host, dead), false},
	} {
		cs := fake.NewClientset()
		if _, err := Acquire(ctx, cs, "ns", "L", Holder{Identity: c.identity, User: "alice"}, "restore x.sql.zst", clock(&now)); err != nil {
			t.Fatal(err)
		}
		info, _, err := DescribeLock(ctx, cs, "ns", "L", now)
		if err != nil || info.HolderGone != c.gone || info.Held == c.gone {
			t.Errorf("%s: gone %v held %v (%v), want gone %v", c.identity, info.HolderGone, info.Held, err, c.gone)
		}
		_, err = Acquire(ctx, cs, "ns", "L", Holder{Identity: "bob@h (pid 2)"}, "migrate up head", clock(&now))
		if (err == nil) != c.gone {
			t.Errorf("%s: second acquire %v", c.identity, err)
		}
	}
}
