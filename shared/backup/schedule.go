package backup

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/spf13/cobra"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"k8s.io/client-go/util/retry"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/oplock"
	"github.com/piyasa/kubectl-piyasa/shared/output"
)

// KindBackupSchedule is the kind of `backup schedule show -o json`.
const KindBackupSchedule = "BackupSchedule"

// Retention env variables of the CronJob's container (manifests/base/backup.yaml).
const (
	EnvKeepDaily   = app.EnvKeepDaily
	EnvKeepWeekly  = app.EnvKeepWeekly
	EnvKeepMonthly = app.EnvKeepMonthly
)

// Schedule is the `backup schedule show` document.
type Schedule struct {
	Namespace string `json:"namespace"`
	CronJob   string `json:"cronJob"`
	Schedule  string `json:"schedule"`
	TimeZone  string `json:"timeZone,omitempty"`
	Suspended bool   `json:"suspended"`
	// NextRun is the next scheduled time (none while suspended).
	NextRun     *time.Time `json:"nextRun,omitempty"`
	KeepDaily   int        `json:"keepDaily"`
	KeepWeekly  int        `json:"keepWeekly"`
	KeepMonthly int        `json:"keepMonthly"`
	// LastSchedule and LastSuccess come from the CronJob's status.
	LastSchedule *time.Time `json:"lastSchedule,omitempty"`
	LastSuccess  *time.Time `json:"lastSuccess,omitempty"`
	// LastFailure is the newest failed Job and why it failed.
	LastFailure *JobFailure `json:"lastFailure,omitempty"`
	// NewestBackup is the newest good backup in the PVC (show --pvc).
	NewestBackup *ListItem `json:"newestBackup,omitempty"`
	// Physical is the base backup CronJob (schedule set --physical), if any.
	Physical *PhysicalSchedule `json:"physical,omitempty"`
}

// JobFailure is a failed backup Job.
type JobFailure struct {
	Job    string    `json:"job"`
	Time   time.Time `json:"time"`
	Reason string    `json:"reason"`
}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// NewCmdSchedule returns `backup schedule`.
func NewCmdSchedule(g *cli.Global) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "schedule",
		Short: "Show and manage the nightly backup CronJob (db-backup)",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newCmdScheduleShow(g), newCmdScheduleSet(g), newCmdScheduleSuspend(g, true), newCmdScheduleSuspend(g, false), newCmdScheduleRunNow(g))
	return cmd
}

// scheduleBase finds the CronJob.
type scheduleBase struct{ base }

func (s *scheduleBase) cronJobName() string { return s.Env.ObjectName(app.BackupCronJob) }

func (s *scheduleBase) get(ctx context.Context) (kubernetes.Interface, *batchv1.CronJob, error) {
	cs, err := s.Clientset()
	if err != nil {
		return nil, nil, err
	}
	cj, err := cs.BatchV1().CronJobs(s.Namespace).Get(ctx, s.cronJobName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil, cli.Failedf("no CronJob %s in namespace %s", s.cronJobName(), s.Namespace).
			WithHint("deploy the app with: kubectl piyasa deploy -n %s", s.Namespace)
	}
	return cs, cj, err
}

// getPhysical finds the base backup CronJob.
func (s *scheduleBase) getPhysical(ctx context.Context, cs kubernetes.Interface) (*batchv1.CronJob, error) {
	cj, err := cs.BatchV1().CronJobs(s.Namespace).Get(ctx, s.physicalName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, cli.Failedf("no CronJob %s in namespace %s: base backups are not scheduled", s.physicalName(), s.Namespace).
			WithHint("schedule them with: kubectl piyasa backup schedule set --physical -n %s", s.Namespace)
	}
	return cj, err
}

// ScheduleShowOptions are the options of `schedule show`.
type ScheduleShowOptions struct {
	scheduleBase
	Print *output.Flags
	// PVC also looks into the backup PVC for the newest good backup.
	PVC bool
}

func newCmdScheduleShow(g *cli.Global) *cobra.Command {
	o := &ScheduleShowOptions{scheduleBase: scheduleBase{newBase(g)}, Print: output.NewFlags()}
	cmd := &cobra.Command{
		Use:   "show [-o json|yaml]",
		Short: "Show the schedule, retention, last success, last failure with its reason and the next run",
		Args:  cobra.NoArgs,
		RunE:  cli.RunE(o),
	}
	cmd.Flags().BoolVar(&o.PVC, "pvc", false, "Also show the newest good backup in the backup PVC (starts a short-lived read-only pod)")
	o.Print.AddFlags(cmd)
	return cmd
}

// Complete resolves the global options.
func (o *ScheduleShowOptions) Complete(*cobra.Command, []string) error { return o.Global.Complete() }

// Validate checks -o.
func (o *ScheduleShowOptions) Validate() error {
	if err := o.Print.Validate(); err != nil {
		return cli.Usagef("%v", err)
	}
	return nil
}

// Run shows the schedule.
func (o *ScheduleShowOptions) Run(ctx context.Context) error {
	cs, cj, err := o.get(ctx)
	if err != nil {
		return err
	}
	s := Schedule{Namespace: o.Namespace, CronJob: cj.Name, Schedule: cj.Spec.Schedule, Suspended: cj.Spec.Suspend != nil && *cj.Spec.Suspend}
	if cj.Spec.TimeZone != nil {
		s.TimeZone = *cj.Spec.TimeZone
	}
	env := backupEnv(cj)
	s.KeepDaily, s.KeepWeekly, s.KeepMonthly = atoiOr(env[EnvKeepDaily], 7), atoiOr(env[EnvKeepWeekly], 4), atoiOr(env[EnvKeepMonthly], 12)
	if t := cj.Status.LastScheduleTime; t != nil {
		v := t.UTC()
		s.LastSchedule = &v
	}
	if t := cj.Status.LastSuccessfulTime; t != nil {
		v := t.UTC()
		s.LastSuccess = &v
	}
	if !s.Suspended {
		s.NextRun = nextRun(cj, o.Now())
	}
	if s.Physical, err = o.physicalSchedule(ctx, cs); err != nil {
		return err
	}
	jobs, err := cs.BatchV1().Jobs(o.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, j := range jobs.Items {
		if !ownedBy(j.OwnerReferences, cj.UID) {
			continue
		}
		for _, c := range j.Status.Conditions {
			if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
				if s.LastFailure == nil || c.LastTransitionTime.After(s.LastFailure.Time) {
					reason := c.Reason
					if c.Message != "" {
						reason += ": " + c.Message
					}
					s.LastFailure = &JobFailure{Job: j.Name, Time: c.LastTransitionTime.UTC(), Reason: reason}
				}
			}
		}
	}
	if o.PVC {
		items, err := o.inClusterEntries(ctx)
		if err != nil {
			return err
		}
		for i, it := range items {
			if it.Status == "ok" && it.Info != nil && (s.NewestBackup == nil || it.Info.EndTime.After(s.NewestBackup.Info.EndTime)) {
				s.NewestBackup = &items[i]
			}
		}
	}
	if o.Print.Structured() {
		return o.Print.PrintDocument(o.Out, KindBackupSchedule, s)
	}
	tp := output.NewTable(o.Out, "CRONJOB", "SCHEDULE", "SUSPENDED", "NEXT RUN", "LAST SUCCESS", "LAST FAILURE", "KEEP D/W/M")
	next, succ, fail := "-", "never", "-"
	if s.NextRun != nil {
		next = s.NextRun.Format(time.RFC3339)
	}
	if s.LastSuccess != nil {
		succ = s.LastSuccess.Format(time.RFC3339)
	}
	if s.LastFailure != nil {
		fail = s.LastFailure.Time.Format(time.RFC3339) + " " + s.LastFailure.Job + " (" + s.LastFailure.Reason + ")"
	}
	sched := s.Schedule
	if s.TimeZone != "" {
		sched += " " + s.TimeZone
	}
	tp.Append(s.CronJob, sched, strconv.FormatBool(s.Suspended), next, succ, fail, fmt.Sprintf("%d/%d/%d", s.KeepDaily, s.KeepWeekly, s.KeepMonthly))
	if err := tp.Render(); err != nil {
		return err
	}
	if s.Physical != nil {
		s.Physical.print(o.Out)
	}
	if o.PVC {
		if s.NewestBackup == nil {
			fmt.Fprintln(o.Out, "newest good backup in the PVC: none")
		} else {
			fmt.Fprintf(o.Out, "newest good backup in the PVC: %s (%s, %s)\n", s.NewestBackup.Name,
				s.NewestBackup.Info.EndTime.Format(time.RFC3339), HumanBytes(s.NewestBackup.Size))
		}
	}
	return nil
}

func ownedBy(refs []metav1.OwnerReference, uid types.UID) bool {
	for _, r := range refs {
		if r.UID == uid {
			return true
		}
	}
	return false
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

// backupEnv returns the plain env values of the CronJob's first container.
func backupEnv(cj *batchv1.CronJob) map[string]string {
	out := map[string]string{}
	cs := cj.Spec.JobTemplate.Spec.Template.Spec.Containers
	if len(cs) == 0 {
		return out
	}
	for _, e := range cs[0].Env {
		if e.ValueFrom == nil {
			out[e.Name] = e.Value
		}
	}
	return out
}

// ScheduleSetOptions are the options of `schedule set`.
type ScheduleSetOptions struct {
	scheduleBase
	Cron                               string
	KeepDaily, KeepWeekly, KeepMonthly int
	// Physical makes (true) or deletes (false) the base backup CronJob.
	Physical     bool
	PhysicalCron string
	KeepBase     int
	cmd          *cobra.Command
}

func newCmdScheduleSet(g *cli.Global) *cobra.Command {
	o := &ScheduleSetOptions{scheduleBase: scheduleBase{newBase(g)}}
	cmd := &cobra.Command{
		Use:   "set [--cron EXPR] [--keep-daily N] [--keep-weekly N] [--keep-monthly N] [--physical[=false] [--physical-cron EXPR] [--keep-base N]]",
		Short: "Change the CronJob's schedule (a 5-field cron expression, validated) and retention; schedule base backups",
		Example: `  kubectl piyasa backup schedule set --cron "0 2 * * *" --keep-daily 7 --keep-weekly 4 --keep-monthly 12
  kubectl piyasa backup schedule set --physical --physical-cron "30 3 * * *" --keep-base 2`,
		Args: cobra.NoArgs,
		RunE: cli.RunE(o),
	}
	cmd.Flags().StringVar(&o.Cron, "cron", "", `Schedule, a 5-field cron expression in the CronJob's time zone (e.g. "0 2 * * *")`)
	cmd.Flags().IntVar(&o.KeepDaily, "keep-daily", 0, "Keep the newest N daily backups (at least 1)")
	cmd.Flags().IntVar(&o.KeepWeekly, "keep-weekly", 0, "Keep the newest N weekly (Sunday) backups")
	cmd.Flags().IntVar(&o.KeepMonthly, "keep-monthly", 0, "Keep the newest N monthly (1st of the month) backups")
	cmd.Flags().BoolVar(&o.Physical, "physical", false, "Also take base backups (pg_basebackup) onto the backup volume with a second CronJob ("+app.BaseBackupCronJob+"), the start of point-in-time restores; --physical=false deletes it")
	cmd.Flags().StringVar(&o.PhysicalCron, "physical-cron", DefaultPhysicalCron, "With --physical: the base backups' schedule, a 5-field cron expression")
	cmd.Flags().IntVar(&o.KeepBase, "keep-base", DefaultKeepBase, "With --physical: keep the newest N scheduled base backups on the volume (at least 1)")
	o.cmd = cmd
	return cmd
}

// Complete resolves the global options.
func (o *ScheduleSetOptions) Complete(cmd *cobra.Command, _ []string) error {
	o.cmd = cmd
	return o.Global.Complete()
}

// Validate checks the cron expression and the counts (no I/O).
func (o *ScheduleSetOptions) Validate() error {
	f := o.cmd.Flags()
	if !o.dumpChanged() && !f.Changed("physical") {
		if f.Changed("physical-cron") || f.Changed("keep-base") {
			return cli.Usagef("--physical-cron and --keep-base go with --physical")
		}
		return cli.Usagef("nothing to set: give --cron and/or --keep-daily, --keep-weekly, --keep-monthly, or --physical")
	}
	if (f.Changed("physical-cron") || f.Changed("keep-base")) && !o.Physical {
		return cli.Usagef("--physical-cron and --keep-base go with --physical, not --physical=false")
	}
	if _, err := cronParser.Parse(o.PhysicalCron); err != nil {
		return cli.Usagef("invalid --physical-cron %q: %v", o.PhysicalCron, err)
	}
	if o.KeepBase < 1 {
		return cli.Usagef("--keep-base must be at least 1: the newest base backup is always kept")
	}
	if f.Changed("cron") {
		if _, err := cronParser.Parse(o.Cron); err != nil {
			return cli.Usagef("invalid --cron %q: %v", o.Cron, err)
		}
	}
	if f.Changed("keep-daily") && o.KeepDaily < 1 {
		return cli.Usagef("--keep-daily must be at least 1: the newest backup is always kept")
	}
	if (f.Changed("keep-weekly") && o.KeepWeekly < 0) || (f.Changed("keep-monthly") && o.KeepMonthly < 0) {
		return cli.Usagef("--keep-weekly and --keep-monthly must not be negative")
	}
	return nil
}

// dumpChanged reports a flag of the backup CronJob itself.
func (o *ScheduleSetOptions) dumpChanged() bool {
	f := o.cmd.Flags()
	return f.Changed("cron") || f.Changed("keep-daily") || f.Changed("keep-weekly") || f.Changed("keep-monthly")
}

// Run updates the CronJob, then makes or deletes the base backup CronJob.
func (o *ScheduleSetOptions) Run(ctx context.Context) error {
	if o.dumpChanged() {
		if err := o.updateDumps(ctx); err != nil {
			return err
		}
	}
	if !o.cmd.Flags().Changed("physical") {
		return nil
	}
	cs, cj, err := o.get(ctx)
	if err != nil {
		return err
	}
	msg, err := o.setPhysical(ctx, cs, cj)
	if err != nil {
		return err
	}
	fmt.Fprintln(o.Out, msg)
	return nil
}

// updateDumps sets the schedule and retention of the backup CronJob.
func (o *ScheduleSetOptions) updateDumps(ctx context.Context) error {
	f := o.cmd.Flags()
	var changes []string
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cs, cj, err := o.get(ctx)
		if err != nil {
			return err
		}
		changes = nil
		set := map[string]bool{}
		for _, name := range strings.Split(cj.Annotations[app.ScheduleSetAnnotation], ",") {
			if name = strings.TrimSpace(name); name != "" {
				set[name] = true
			}
		}
		if f.Changed("cron") {
			if cj.Spec.Schedule != o.Cron {
				changes = append(changes, fmt.Sprintf("schedule %s -> %s", cj.Spec.Schedule, o.Cron))
			}
			cj.Spec.Schedule = o.Cron
			set[app.ScheduleField] = true
		}
		if len(cj.Spec.JobTemplate.Spec.Template.Spec.Containers) == 0 {
			return cli.Failedf("CronJob %s has no container", cj.Name)
		}
		c := &cj.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
		env := backupEnv(cj)
		for _, x := range []struct {
			name string
			on   bool
			v    int
		}{{EnvKeepDaily, f.Changed("keep-daily"), o.KeepDaily}, {EnvKeepWeekly, f.Changed("keep-weekly"), o.KeepWeekly}, {EnvKeepMonthly, f.Changed("keep-monthly"), o.KeepMonthly}} {
			if x.on {
				if v := strconv.Itoa(x.v); env[x.name] != v {
					changes = append(changes, fmt.Sprintf("%s %s -> %s", x.name, orDash(env[x.name]), v))
				}
				setEnv(c, x.name, strconv.Itoa(x.v))
				set[x.name] = true
			}
		}
		// Recorded for deploy, which keeps these live values on a redeploy.
		var fields []string
		for _, name := range []string{app.ScheduleField, EnvKeepDaily, EnvKeepWeekly, EnvKeepMonthly} {
			if set[name] {
				fields = append(fields, name)
			}
		}
		if cj.Annotations == nil {
			cj.Annotations = map[string]string{}
		}
		cj.Annotations[app.ScheduleSetAnnotation] = strings.Join(fields, ",")
		_, err = cs.BatchV1().CronJobs(o.Namespace).Update(ctx, cj, metav1.UpdateOptions{FieldManager: app.FieldManager})
		return err
	})
	if err != nil {
		return err
	}
	what := "unchanged"
	if len(changes) > 0 {
		what = strings.Join(changes, ", ")
	}
	fmt.Fprintf(o.Out, "cronjob %s updated: %s (kept by deploy)\n", o.cronJobName(), what)
	return nil
}

func setEnv(c *corev1.Container, name, value string) {
	for i := range c.Env {
		if c.Env[i].Name == name {
			c.Env[i] = corev1.EnvVar{Name: name, Value: value}
			return
		}
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
}

// ScheduleSuspendOptions are the options of `schedule suspend|resume`.
type ScheduleSuspendOptions struct {
	scheduleBase
	Suspend bool
}

func newCmdScheduleSuspend(g *cli.Global, suspend bool) *cobra.Command {
	o := &ScheduleSuspendOptions{scheduleBase: scheduleBase{newBase(g)}, Suspend: suspend}
	use, short := "resume", "Resume the nightly backups"
	if suspend {
		use, short = "suspend", "Suspend the nightly backups (running Jobs go on)"
	}
	return &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs, RunE: cli.RunE(o)}
}

// Complete resolves the global options.
func (o *ScheduleSuspendOptions) Complete(*cobra.Command, []string) error { return o.Global.Complete() }

// Validate has nothing to check.
func (o *ScheduleSuspendOptions) Validate() error { return nil }

// Run patches spec.suspend.
func (o *ScheduleSuspendOptions) Run(ctx context.Context) error {
	cs, _, err := o.get(ctx)
	if err != nil {
		return err
	}
	patch := []byte(fmt.Sprintf(`{"spec":{"suspend":%t}}`, o.Suspend))
	if _, err := cs.BatchV1().CronJobs(o.Namespace).Patch(ctx, o.cronJobName(), types.MergePatchType, patch, metav1.PatchOptions{FieldManager: app.FieldManager}); err != nil {
		return err
	}
	word := "resumed"
	if o.Suspend {
		word = "suspended"
	}
	fmt.Fprintf(o.Out, "cronjob %s %s\n", o.cronJobName(), word)
	return nil
}

// ScheduleRunNowOptions are the options of `schedule run-now`.
type ScheduleRunNowOptions struct {
	scheduleBase
	Timeout time.Duration
	// Physical runs the base backup CronJob's Job instead.
	Physical bool
}

func newCmdScheduleRunNow(g *cli.Global) *cobra.Command {
	o := &ScheduleRunNowOptions{scheduleBase: scheduleBase{newBase(g)}, Timeout: 30 * time.Minute}
	cmd := &cobra.Command{
		Use:   "run-now [--timeout D]",
		Short: "Start a Job from the CronJob now, wait for it and print its log",
		Args:  cobra.NoArgs,
		RunE:  cli.RunE(o),
	}
	cmd.Flags().DurationVar(&o.Timeout, "timeout", o.Timeout, "How long to wait for the Job")
	cmd.Flags().BoolVar(&o.Physical, "physical", false, "Run the base backup CronJob ("+app.BaseBackupCronJob+", schedule set --physical) instead")
	return cmd
}

// Complete resolves the global options.
func (o *ScheduleRunNowOptions) Complete(*cobra.Command, []string) error { return o.Global.Complete() }

// Validate checks --timeout.
func (o *ScheduleRunNowOptions) Validate() error {
	if o.Timeout <= 0 {
		return cli.Usagef("--timeout must be positive")
	}
	return nil
}

// Run creates the Job (as `kubectl create job --from=cronjob/...` does) and waits.
func (o *ScheduleRunNowOptions) Run(ctx context.Context) error {
	cs, cj, err := o.get(ctx)
	if err == nil && o.Physical {
		cj, err = o.getPhysical(ctx, cs)
	}
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%s-manual-%d", cj.Name, o.Now().Unix())
	if len(name) > 63 {
		name = name[:63]
	}
	// Owned by the CronJob (deleted with it) but not as its controller: the
	// CronJob controller reconciles only the Jobs it controls, and warns
	// UnexpectedJob about a running controlled Job missing from its active
	// list, which a Job started by hand always is (so does kubectl create job
	// --from=cronjob's).
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: o.Namespace,
			Labels:      cj.Spec.JobTemplate.Labels,
			Annotations: map[string]string{"cronjob.kubernetes.io/instantiate": "manual"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: batchv1.SchemeGroupVersion.String(), Kind: "CronJob",
				Name: cj.Name, UID: cj.UID}},
		},
		Spec: cj.Spec.JobTemplate.Spec,
	}
	lock, err := o.lock(ctx, cs, name)
	if err != nil {
		return err
	}
	if _, err := cs.BatchV1().Jobs(o.Namespace).Create(ctx, job, metav1.CreateOptions{FieldManager: app.FieldManager}); err != nil {
		o.unlock(ctx, lock, false)
		return err
	}
	o.Infof("job %s started; waiting\n", name)
	renewCtx, stopRenew := context.WithCancel(ctx)
	defer stopRenew()
	go lock.KeepRenewed(renewCtx, func(err error) { o.Infof("warning: lock %s: %v\n", lock.Name(), err) })
	wctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	lw := &cache.ListWatch{
		ListFunc: func(opts metav1.ListOptions) (runtime.Object, error) {
			opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
			return cs.BatchV1().Jobs(o.Namespace).List(wctx, opts)
		},
		WatchFunc: func(opts metav1.ListOptions) (watch.Interface, error) {
			opts.FieldSelector = fields.OneTermEqualSelector("metadata.name", name).String()
			return cs.BatchV1().Jobs(o.Namespace).Watch(wctx, opts)
		},
	}
	var final *batchv1.Job
	_, err = watchtools.UntilWithSync(wctx, lw, &batchv1.Job{}, nil, func(ev watch.Event) (bool, error) {
		j, ok := ev.Object.(*batchv1.Job)
		if !ok {
			return false, nil
		}
		for _, c := range j.Status.Conditions {
			if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
				final = j
				return true, nil
			}
		}
		return false, nil
	})
	stopRenew()
	if err != nil {
		// The Job runs on: the lock stays with it until it ends.
		o.unlock(ctx, lock, true)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return cli.Failedf("job %s did not finish within %s; it keeps running and holds the database lock %s until it ends", name, o.Timeout, lock.Name()).
			WithHint("follow it with: kubectl logs -n %s job/%s -f", o.Namespace, name)
	}
	o.unlock(ctx, lock, false)
	o.printLog(ctx, cs, name)
	for _, c := range final.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			return cli.Failedf("backup job %s failed: %s %s", name, c.Reason, c.Message)
		}
	}
	fmt.Fprintf(o.Out, "job %s completed\n", name)
	return nil
}

// lock takes the database operation lock for the Job name (named in the
// Lease before it exists, so the Lease never hides a Job that may run): no
// migration, restore or second backup run changes the database meanwhile.
func (o *ScheduleRunNowOptions) lock(ctx context.Context, cs kubernetes.Interface, job string) (*oplock.Lock, error) {
	lock, err := oplock.Acquire(ctx, cs, o.Namespace, o.Env.MigrationLease(), oplock.LocalHolder(), oplock.OperationBackupRunNow, o.Now)
	var held *oplock.HeldError
	if errors.As(err, &held) {
		return nil, held.Refusal(o.Namespace)
	}
	if err != nil {
		return nil, err
	}
	if err := lock.SetJob(ctx, job); err != nil {
		o.unlock(ctx, lock, false)
		return nil, err
	}
	return lock, nil
}

// unlock releases the lock, or, when the Job runs on (interrupted, timed
// out), leaves it to the Job: it stays held until the Job ends.
func (o *ScheduleRunNowOptions) unlock(ctx context.Context, lock *oplock.Lock, detach bool) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	var err error
	if detach {
		err = lock.Detach(ctx)
	} else {
		err = lock.Release(ctx)
	}
	if err != nil {
		o.Infof("warning: lock %s: %v\n", lock.Name(), err)
	}
}

// printLog prints the last lines of the Job's newest pod, if it can be read.
func (o *ScheduleRunNowOptions) printLog(ctx context.Context, cs kubernetes.Interface, job string) {
	pods, err := cs.CoreV1().Pods(o.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "job-name=" + job})
	if err != nil || len(pods.Items) == 0 {
		o.Infof("(no pod of job %s to show the log of)\n", job)
		return
	}
	sort.Slice(pods.Items, func(i, j int) bool {
		return pods.Items[i].CreationTimestamp.After(pods.Items[j].CreationTimestamp.Time)
	})
	p := pods.Items[0]
	lines, err := kube.TailLogs(ctx, cs, o.Namespace, p.Name, "", 50, false)
	if err != nil {
		o.Infof("(log of pod %s unavailable: %s)\n", p.Name, output.FirstLine(err.Error()))
		return
	}
	for _, l := range lines {
		o.Infof("%s\n", l)
	}
}
