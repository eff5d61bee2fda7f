package backup

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// EnvKeepBase is the base backup CronJob's count of its base backups kept.
const EnvKeepBase = "KEEP_BASE"

// Defaults of `backup schedule set --physical`.
const (
	DefaultPhysicalCron = "30 3 * * *"
	DefaultKeepBase     = 2
)

// PhysicalSchedule is the base backup CronJob in `backup schedule show`.
type PhysicalSchedule struct {
	CronJob     string     `json:"cronJob"`
	Schedule    string     `json:"schedule"`
	Suspended   bool       `json:"suspended"`
	KeepBase    int        `json:"keepBase"`
	NextRun     *time.Time `json:"nextRun,omitempty"`
	LastSuccess *time.Time `json:"lastSuccess,omitempty"`
}

// print writes the one line `schedule show` gives the base backup CronJob.
func (p *PhysicalSchedule) print(w io.Writer) {
	succ, state := "never", "active"
	if p.LastSuccess != nil {
		succ = p.LastSuccess.Format(time.RFC3339)
	}
	if p.Suspended {
		state = "suspended"
	}
	fmt.Fprintf(w, "base backups: cronjob %s %q (%s), the newest %d kept, last success %s\n", p.CronJob, p.Schedule, state, p.KeepBase, succ)
}

func (s *scheduleBase) physicalName() string { return s.Env.ObjectName(app.BaseBackupCronJob) }

// physicalCronJob builds the base backup CronJob from the backup CronJob
// cj: its pod (image, environment, volumes, security) running
// BaseBackupCronScript, owned by cj (deleted with it, left alone by deploy).
func physicalCronJob(cj *batchv1.CronJob, name, schedule string, keep int) (*batchv1.CronJob, error) {
	spec := *cj.Spec.DeepCopy()
	pod := &spec.JobTemplate.Spec.Template.Spec
	if len(pod.Containers) == 0 {
		return nil, cli.Failedf("CronJob %s has no container to take base backups with", cj.Name)
	}
	c := &pod.Containers[0]
	c.Command, c.Args = []string{"/bin/sh", "-c", BaseBackupCronScript}, nil
	env := c.Env[:0:0]
	for _, e := range c.Env {
		if e.Name != EnvKeepDaily && e.Name != EnvKeepWeekly && e.Name != EnvKeepMonthly && e.Name != EnvKeepBase {
			env = append(env, e)
		}
	}
	c.Env = append(env, corev1.EnvVar{Name: EnvKeepBase, Value: strconv.Itoa(keep)})
	spec.Schedule, spec.Suspend = schedule, nil
	ann := map[string]string{}
	for k, v := range cj.Annotations {
		if k != app.ScheduleSetAnnotation && k != "kubectl.kubernetes.io/last-applied-configuration" {
			ann[k] = v
		}
	}
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: cj.Namespace, Labels: cj.Labels, Annotations: ann,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: batchv1.SchemeGroupVersion.String(), Kind: "CronJob",
				Name: cj.Name, UID: cj.UID, BlockOwnerDeletion: ptr.To(false)}},
		},
		Spec: spec,
	}, nil
}

// setPhysical creates, updates (from the backup CronJob cj, the live
// schedule and count kept unless given) or, with on false, deletes the base
// backup CronJob; it returns what it did.
func (o *ScheduleSetOptions) setPhysical(ctx context.Context, cs kubernetes.Interface, cj *batchv1.CronJob) (string, error) {
	name := o.physicalName()
	api := cs.BatchV1().CronJobs(o.Namespace)
	live, err := api.Get(ctx, name, metav1.GetOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return "", err
	}
	exists := err == nil
	if !o.Physical {
		if !exists {
			return fmt.Sprintf("cronjob %s: none, nothing to delete", name), nil
		}
		bg := metav1.DeletePropagationBackground
		if err := api.Delete(ctx, name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil && !apierrors.IsNotFound(err) {
			return "", err
		}
		return fmt.Sprintf("cronjob %s deleted: no more scheduled base backups (those on the backup volume stay)", name), nil
	}
	f := o.cmd.Flags()
	sched, keep := DefaultPhysicalCron, DefaultKeepBase
	if exists {
		sched, keep = live.Spec.Schedule, atoiOr(backupEnv(live)[EnvKeepBase], DefaultKeepBase)
	}
	if f.Changed("physical-cron") {
		sched = o.PhysicalCron
	}
	if f.Changed("keep-base") {
		keep = o.KeepBase
	}
	want, err := physicalCronJob(cj, name, sched, keep)
	if err != nil {
		return "", err
	}
	what := "created"
	if exists {
		want.ResourceVersion, want.Spec.Suspend, what = live.ResourceVersion, live.Spec.Suspend, "updated"
		_, err = api.Update(ctx, want, metav1.UpdateOptions{FieldManager: app.FieldManager})
	} else {
		_, err = api.Create(ctx, want, metav1.CreateOptions{FieldManager: app.FieldManager})
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("cronjob %s %s: base backups onto the backup volume (%s/) at %q, the newest %d kept", name, what, InClusterBaseDir, sched, keep), nil
}

// physicalSchedule reads the base backup CronJob for `schedule show` (nil when there is none).
func (o *ScheduleShowOptions) physicalSchedule(ctx context.Context, cs kubernetes.Interface) (*PhysicalSchedule, error) {
	cj, err := cs.BatchV1().CronJobs(o.Namespace).Get(ctx, o.physicalName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	p := &PhysicalSchedule{CronJob: cj.Name, Schedule: cj.Spec.Schedule, Suspended: cj.Spec.Suspend != nil && *cj.Spec.Suspend,
		KeepBase: atoiOr(backupEnv(cj)[EnvKeepBase], DefaultKeepBase)}
	if t := cj.Status.LastSuccessfulTime; t != nil {
		v := t.UTC()
		p.LastSuccess = &v
	}
	if !p.Suspended {
		p.NextRun = nextRun(cj, o.Now())
	}
	return p, nil
}

// nextRun is the CronJob's next scheduled time after now (nil when its schedule does not parse).
func nextRun(cj *batchv1.CronJob, now time.Time) *time.Time {
	sched, err := cronParser.Parse(cj.Spec.Schedule)
	if err != nil {
		return nil
	}
	loc := time.UTC
	if cj.Spec.TimeZone != nil {
		if l, err := time.LoadLocation(*cj.Spec.TimeZone); err == nil {
			loc = l
		}
	}
	n := sched.Next(now.In(loc)).UTC()
	return &n
}
