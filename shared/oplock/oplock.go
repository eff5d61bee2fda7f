// Package oplock is the one lock of every operation that changes the
// database of a namespace: migrate up and down, a live restore, the
// in-cluster backup run and the prune of in-cluster copies. It is a
// coordination.k8s.io Lease (the migration Lease, <prefix>piyasa-migrate,
// kept under its old name so that older binaries still exclude newer ones)
// whose annotations name the holder, the operation and the Job it guards.
// A Lease its holder stopped renewing has expired, but it stays held while
// the Job it names is still running.
package oplock

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// Lease timing: the command renews the Lease every LeaseRenew; a Lease not
// renewed for LeaseDuration has expired (its process is gone), but it stays
// held while the Job it names is still running (the Lease follows the Job
// after a Ctrl-C).
const (
	LeaseDuration = 30 * time.Second
	LeaseRenew    = 10 * time.Second
)

// Holder says who holds (or wants) the Lease.
type Holder struct {
	// Identity is user@host (pid N): the Lease's holderIdentity.
	Identity string `json:"identity"`
	// User is user@host.
	User string `json:"user"`
}

// holderRE parses a Holder's Identity: user@host (pid N).
var holderRE = regexp.MustCompile(`^.+@(.+) \(pid (\d+)\)$`)

// holderGone says whether identity names a process of this machine that no
// longer exists. Another machine's holder is never judged gone: its Lease
// runs out instead.
func holderGone(identity string) bool {
	m := holderRE.FindStringSubmatch(identity)
	if m == nil {
		return false
	}
	host, _ := os.Hostname()
	pid, err := strconv.Atoi(m[2])
	if err != nil || host == "" || m[1] != host || pid <= 0 || pid == os.Getpid() {
		return false
	}
	return !processAlive(pid)
}

// LocalHolder returns the identity of this process.
func LocalHolder() Holder {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "unknown-host"
	}
	who := name + "@" + host
	return Holder{Identity: fmt.Sprintf("%s (pid %d)", who, os.Getpid()), User: who}
}

// LockInfo describes the Lease as `migrate status` and errors show it.
type LockInfo struct {
	Name   string `json:"name"`
	Held   bool   `json:"held"`
	Holder string `json:"holder,omitempty"`
	User   string `json:"user,omitempty"`
	// Operation is what the holder does ("migrate up 0003", "restore FILE", ...;
	// "migrate" for a Lease written by a binary older than the operation lock).
	Operation string     `json:"operation,omitempty"`
	Job       string     `json:"job,omitempty"`
	JobState  string     `json:"jobState,omitempty"`
	Since     *time.Time `json:"since,omitempty"`
	Renewed   *time.Time `json:"renewed,omitempty"`
	// Expired: not renewed for LeaseDuration, or its process is gone from
	// this machine (it is still held while its Job runs).
	Expired bool `json:"expired"`
	// HolderGone: the holder ran on this machine and its process is gone.
	HolderGone bool `json:"holderGone,omitempty"`
}

// Alive says whether the holder is still at work: its process renews the
// Lease, or the Job it names is running. An unlock must not take a live
// holder's Lease: two operations would then change the database at once.
func (i LockInfo) Alive() bool {
	return i.Holder != "" && (!i.Expired || i.JobState == "Running")
}

// Describe says "OPERATION by HOLDER since T, Job J (STATE)".
func (i LockInfo) Describe() string {
	op := i.Operation
	if op == "" {
		op = "migrate"
	}
	msg := fmt.Sprintf("%s by %s", op, i.Holder)
	if i.Since != nil {
		msg += " since " + i.Since.UTC().Format(time.RFC3339)
	}
	if i.Job != "" {
		msg += fmt.Sprintf(", Job %s (%s)", i.Job, i.JobState)
	}
	return msg
}

// HeldError is returned when another operation holds the Lease.
type HeldError struct{ Info LockInfo }

func (e *HeldError) Error() string {
	return fmt.Sprintf("another operation holds the database lock %s: %s", e.Info.Name, e.Info.Describe())
}

// Refusal is the error a command prints when the lock is held: it names the
// holder and never offers to unlock it (a held lock has a live holder).
func (e *HeldError) Refusal(ns string) error {
	c := cli.Failedf("%s; nothing was changed", e.Error())
	if e.Info.Job != "" {
		return c.WithHint("wait for it to end (kubectl logs -f job/%s -n %s), then try again", e.Info.Job, ns)
	}
	return c.WithHint("wait for it to end, then try again (see: kubectl piyasa migrate status -n %s)", ns)
}

// Lock is a held Lease.
type Lock struct {
	cs     kubernetes.Interface
	ns     string
	name   string
	holder Holder
	now    func() time.Time
	// TookOver describes the expired Lease this Lock replaced (nil: it was free).
	TookOver *LockInfo
}

// Name returns the Lease's name.
func (l *Lock) Name() string { return l.name }

// JobState returns Running, Complete, Failed or Gone for a Job name ("" when none).
func JobState(ctx context.Context, cs kubernetes.Interface, ns, job string) (string, error) {
	if job == "" {
		return "", nil
	}
	j, err := cs.BatchV1().Jobs(ns).Get(ctx, job, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "Gone", nil
	}
	if err != nil {
		return "", err
	}
	return JobStateOf(j), nil
}

// JobStateOf returns Running, Complete or Failed for a Job.
func JobStateOf(j *batchv1.Job) string {
	for _, c := range j.Status.Conditions {
		if c.Status == "True" && c.Type == batchv1.JobComplete {
			return "Complete"
		}
		if c.Status == "True" && c.Type == batchv1.JobFailed {
			return "Failed"
		}
	}
	return "Running"
}

// DescribeLock reads the Lease (nil LockInfo.Held=false when there is none).
func DescribeLock(ctx context.Context, cs kubernetes.Interface, ns, name string, now time.Time) (LockInfo, *coordinationv1.Lease, error) {
	info := LockInfo{Name: name}
	lease, err := cs.CoordinationV1().Leases(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return info, nil, nil
	}
	if err != nil {
		return info, nil, err
	}
	if lease.Spec.HolderIdentity != nil {
		info.Holder = *lease.Spec.HolderIdentity
	}
	info.User = lease.Annotations[app.MigrationUserAnnotation]
	info.Operation = lease.Annotations[app.LockOperationAnnotation]
	info.Job = lease.Annotations[app.MigrationJobAnnotation]
	if lease.Spec.AcquireTime != nil {
		t := lease.Spec.AcquireTime.Time
		info.Since = &t
	}
	if lease.Spec.RenewTime != nil {
		t := lease.Spec.RenewTime.Time
		info.Renewed = &t
	}
	dur := LeaseDuration
	if lease.Spec.LeaseDurationSeconds != nil {
		dur = time.Duration(*lease.Spec.LeaseDurationSeconds) * time.Second
	}
	info.Expired = info.Renewed == nil || !now.Before(info.Renewed.Add(dur))
	if !info.Expired && holderGone(info.Holder) {
		// Killed (kill -9, OOM) on this very machine: no need to wait for
		// the Lease to run out before a re-run or an unlock.
		info.Expired, info.HolderGone = true, true
	}
	if info.JobState, err = JobState(ctx, cs, ns, info.Job); err != nil {
		return info, lease, err
	}
	info.Held = info.Alive()
	return info, lease, nil
}

// Operations of the backup CronJob's Jobs, which cannot take the Lease
// themselves (their pods have no API access): Acquire names them as holders.
const (
	OperationScheduledBackup = "scheduled backup"
	OperationBackupRunNow    = "backup run-now"
)

// ActiveBackupJob describes a running Job of the backup CronJob
// (<prefix>db-backup, the prefix of the Lease name lease) as a holder of the
// lock, or returns nil when none runs. A Job is the CronJob's when the
// CronJob controls it, or, without a controller, when its pods carry the
// CronJob's label app=piyasa-backup.
func ActiveBackupJob(ctx context.Context, cs kubernetes.Interface, ns, lease string) (*LockInfo, error) {
	cron := strings.TrimSuffix(lease, app.MigrationLeaseBase) + app.BackupCronJob
	list, err := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var running []batchv1.Job
	for _, j := range list.Items {
		if JobStateOf(&j) != "Running" || j.DeletionTimestamp != nil {
			continue
		}
		ref := metav1.GetControllerOf(&j)
		if (ref != nil && ref.Kind == "CronJob" && ref.Name == cron) || (ref == nil && j.Spec.Template.Labels["app"] == app.BackupAppLabel) {
			running = append(running, j)
		}
	}
	if len(running) == 0 {
		return nil, nil
	}
	sort.Slice(running, func(a, b int) bool { return running[a].CreationTimestamp.Before(&running[b].CreationTimestamp) })
	j := running[0]
	since := j.CreationTimestamp.Time
	if j.Status.StartTime != nil {
		since = j.Status.StartTime.Time
	}
	op := OperationScheduledBackup
	if j.Annotations["cronjob.kubernetes.io/instantiate"] == "manual" {
		op = OperationBackupRunNow
	}
	return &LockInfo{Name: lease, Held: true, Holder: "the backup CronJob " + cron, Operation: op,
		Job: j.Name, JobState: "Running", Since: &since}, nil
}

// Acquire takes the Lease for holder doing operation, or returns a
// *HeldError naming the holder, its operation and since when. A Lease that
// has expired and whose Job has finished (or never existed) is taken over.
// While a Job of the backup CronJob runs, the lock is held by it.
func Acquire(ctx context.Context, cs kubernetes.Interface, ns, name string, holder Holder, operation string, now func() time.Time) (*Lock, error) {
	l := &Lock{cs: cs, ns: ns, name: name, holder: holder, now: now}
	for attempt := 0; attempt < 5; attempt++ {
		info, lease, err := DescribeLock(ctx, cs, ns, name, now())
		if err != nil {
			return nil, err
		}
		t := metav1.NewMicroTime(now())
		dur := int32(LeaseDuration / time.Second)
		exists := lease != nil
		if !exists {
			lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns,
				Labels: map[string]string{app.PartOfLabel: app.PartOfValue, app.MigrationLabel: "true"}}}
		} else if info.Held {
			return nil, &HeldError{Info: info}
		}
		if b, err := ActiveBackupJob(ctx, cs, ns, name); err != nil {
			return nil, err
		} else if b != nil {
			return nil, &HeldError{Info: *b}
		}
		if exists && info.Holder != "" {
			prev := info
			l.TookOver = &prev
		}
		lease.Spec = coordinationv1.LeaseSpec{HolderIdentity: &holder.Identity, LeaseDurationSeconds: &dur, AcquireTime: &t, RenewTime: &t}
		if lease.Annotations == nil {
			lease.Annotations = map[string]string{}
		}
		lease.Annotations[app.MigrationUserAnnotation] = holder.User
		lease.Annotations[app.LockOperationAnnotation] = operation
		delete(lease.Annotations, app.MigrationJobAnnotation)
		if !exists {
			_, err = cs.CoordinationV1().Leases(ns).Create(ctx, lease, metav1.CreateOptions{})
		} else {
			_, err = cs.CoordinationV1().Leases(ns).Update(ctx, lease, metav1.UpdateOptions{})
		}
		if apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) {
			continue // someone was faster: look again
		}
		if err != nil {
			return nil, err
		}
		return l, nil
	}
	return nil, cli.Failedf("could not take the lock %s: it changed under us 5 times", name)
}

// update changes our Lease if we still hold it.
func (l *Lock) update(ctx context.Context, change func(*coordinationv1.Lease)) error {
	lease, err := l.cs.CoordinationV1().Leases(l.ns).Get(ctx, l.name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != l.holder.Identity {
		return fmt.Errorf("the lock %s was taken over by %v", l.name, ptrString(lease.Spec.HolderIdentity))
	}
	change(lease)
	_, err = l.cs.CoordinationV1().Leases(l.ns).Update(ctx, lease, metav1.UpdateOptions{})
	return err
}

// SetJob records the Job the Lease guards.
func (l *Lock) SetJob(ctx context.Context, job string) error {
	return l.update(ctx, func(lease *coordinationv1.Lease) {
		lease.Annotations[app.MigrationJobAnnotation] = job
		t := metav1.NewMicroTime(l.now())
		lease.Spec.RenewTime = &t
	})
}

// Renew extends the Lease.
func (l *Lock) Renew(ctx context.Context) error {
	return l.update(ctx, func(lease *coordinationv1.Lease) {
		t := metav1.NewMicroTime(l.now())
		lease.Spec.RenewTime = &t
	})
}

// KeepRenewed renews the Lease every LeaseRenew until ctx ends; failures go to report.
func (l *Lock) KeepRenewed(ctx context.Context, report func(error)) {
	t := time.NewTicker(LeaseRenew)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := l.Renew(ctx); err != nil && ctx.Err() == nil {
				report(err)
			}
		}
	}
}

// Detach leaves the Lease to the Job it names (after Ctrl-C): it stops being
// held by this process within a second, and stays held while the Job runs.
func (l *Lock) Detach(ctx context.Context) error {
	return l.update(ctx, func(lease *coordinationv1.Lease) {
		one := int32(1)
		t := metav1.NewMicroTime(l.now())
		lease.Spec.LeaseDurationSeconds, lease.Spec.RenewTime = &one, &t
	})
}

// Release deletes the Lease if we still hold it.
func (l *Lock) Release(ctx context.Context) error {
	lease, err := l.cs.CoordinationV1().Leases(l.ns).Get(ctx, l.name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity != l.holder.Identity {
		return nil
	}
	rv := lease.ResourceVersion
	err = l.cs.CoordinationV1().Leases(l.ns).Delete(ctx, l.name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: &rv}})
	if apierrors.IsNotFound(err) {
		return nil
	}
	return err
}

func ptrString(s *string) string {
	if s == nil {
		return "nobody"
	}
	return *s
}
