package migrate

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/migrate/migraterun"
	"github.com/piyasa/kubectl-piyasa/shared/oplock"
)

// Defaults of `migrate up`.
const (
	DefaultTimeout = 10 * time.Minute
	DefaultRetries = 0
)

// Options is one migration run: what `migrate up` and `migrate down` do, and
// what a later `deploy update --migrate` or `--backup-first` calls through Up.
type Options struct {
	// Direction is "up" (alembic upgrade) or "down" (alembic downgrade).
	Direction string
	// To is the revision: "head" by default for up; required for down.
	To string
	// Image is a tag of the api repository or a whole image; "" takes a ready api pod's image by digest.
	Image string
	// Timeout is the Job's activeDeadlineSeconds.
	Timeout time.Duration
	// Retries is the Job's backoffLimit.
	Retries int32
	// LogFile receives the whole log too when set.
	LogFile string
	// CancelOnInterrupt deletes the Job and releases the Lease when ctx is cancelled.
	CancelOnInterrupt bool
	// Annotations are added to the Job.
	Annotations map[string]string
	// LogOut receives the migration's log lines (default: standard output).
	LogOut io.Writer
	// Exec runs pg_isready in the PostgreSQL pod and alembic in an api pod (default: through the API server).
	Exec Execer
	// Holder is who takes the Lease (default: this user, host and process).
	Holder *oplock.Holder
	// BackupFirst, when set, takes a backup under the lock, after the connection
	// check and before the Job; its location is recorded on the Job
	// (app.MigrationBackupAnnotation) and in Result.Backup. A failure
	// releases the lock and creates no Job.
	BackupFirst Backuper
}

// Backuper takes the backup before a migration and returns its location.
type Backuper interface {
	Take(ctx context.Context, g *cli.Global) (string, error)
}

// Result is what one migration run did (the document of `migrate up -o json`).
type Result = migraterun.Result

// Up runs one migration as a Job under the database operation lock and
// reports it, in steps: plan (template, image, the target checked against
// the image's revisions), lock, prepare (connection check, the database's
// revision, nothing to do when it is at the target, the backup first), Job,
// follow, result. It returns a *cli.Error (exit 1) when the migration
// failed, with r filled; exit 2 for a revision the image does not know; an
// exit-130 *cli.Error when ctx ended once the Job existed (the Job is left
// running unless o.CancelOnInterrupt), context.Canceled before. A database
// already at the target is State UpToDate, without Job or backup.
func Up(ctx context.Context, g *cli.Global, o Options) (*Result, error) {
	u, err := newUpRun(g, o)
	if err != nil {
		return nil, err
	}
	defer u.close()
	if err := u.plan(ctx); err != nil {
		return nil, err
	}
	if err := u.takeLock(ctx); err != nil {
		return nil, err
	}
	done, err := u.prepare(ctx)
	if err != nil || done {
		u.release(ctx)
		if done {
			return u.r, nil
		}
		return nil, err
	}
	if err := u.createJob(ctx); err != nil {
		return nil, err
	}
	final, problem, werr := u.follow(ctx)
	return u.r, u.finish(ctx, final, problem, werr)
}

// upRun is one run of Up, step by step.
type upRun struct {
	g      *cli.Global
	o      Options
	cs     kubernetes.Interface
	ns     string
	start  time.Time
	holder oplock.Holder
	r      *Result

	tmpl    *appsv1.Deployment
	img     ImageChoice
	revs    *revisions // nil: the target could not be checked
	pg      chan error
	logFile *os.File

	lock      *oplock.Lock
	released  bool
	stopRenew context.CancelFunc
	job       *batchv1.Job
}

// newUpRun fills the defaults of o.
func newUpRun(g *cli.Global, o Options) (*upRun, error) {
	u := &upRun{g: g, start: time.Now(), holder: oplock.LocalHolder(), stopRenew: func() {}}
	if err := g.Complete(); err != nil {
		return nil, err
	}
	cs, err := g.Clientset()
	if err != nil {
		return nil, err
	}
	u.cs, u.ns = cs, g.Namespace
	if o.Direction == "" {
		o.Direction = "up"
	}
	if o.To == "" {
		o.To = "head"
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.LogOut == nil {
		o.LogOut = g.Out
	}
	if o.Exec == nil {
		if o.Exec, err = NewRemoteExecer(g); err != nil {
			return nil, err
		}
	}
	if o.Holder != nil {
		u.holder = *o.Holder
	}
	u.o = o
	u.r = &Result{Namespace: u.ns, Direction: o.Direction, Target: o.To, FirstLogLatency: -1}
	return u, nil
}

func (u *upRun) close() {
	u.stopRenew()
	if u.logFile != nil {
		u.logFile.Close()
	}
}

// plan reads what the Job is made of and checks the target against the
// image's revisions; the connection check runs meanwhile.
func (u *upRun) plan(ctx context.Context) error {
	u.pg = make(chan error, 1)
	go func() {
		msg, err := CheckPostgres(ctx, u.cs, u.o.Exec, u.ns)
		if err == nil {
			u.g.Infof("%s\n", msg)
		}
		u.pg <- err
	}()
	var err error
	if u.tmpl, err = APITemplate(ctx, u.cs, u.ns, u.g.Env); err != nil {
		return err
	}
	if u.img, err = ChooseImage(ctx, u.cs, u.ns, u.tmpl.Spec.Template.Spec, u.o.Image); err != nil {
		return err
	}
	u.r.Image = u.img.Image
	if u.img.Warning != "" {
		u.g.Infof("warning: %s\n", u.img.Warning)
	}
	if err := u.checkTarget(ctx); err != nil {
		return err
	}
	if u.o.LogFile != "" {
		if u.logFile, err = os.Create(u.o.LogFile); err != nil {
			return cli.Failedf("cannot write the log file: %v", err)
		}
	}
	return nil
}

// checkTarget reads the image's revisions in a ready api pod when the Job
// runs that pod's image, and refuses (exit 2) a target it does not know. When
// they cannot be read the migration goes on as alembic decides, with a warning.
func (u *upRun) checkTarget(ctx context.Context) error {
	if u.o.Image != "" && u.img.Image != apiContainer(u.tmpl.Spec.Template.Spec).Image {
		return nil // another image than the running one: its migrations are not known here
	}
	a, err := findAlembicPod(ctx, u.cs, u.o.Exec, u.ns)
	if err == nil {
		u.revs, err = readRevisions(ctx, a)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if err != nil {
		u.g.Infof("warning: the image's migrations could not be read, so --to %s is not checked: %v\n", u.o.To, err)
		return nil
	}
	return u.revs.checkTarget(u.o.To, u.ns)
}

// takeLock takes the database operation lock and keeps it renewed.
func (u *upRun) takeLock(ctx context.Context) error {
	lock, err := oplock.Acquire(ctx, u.cs, u.ns, u.g.Env.MigrationLease(), u.holder, "migrate "+u.o.Direction+" "+u.o.To, u.g.Now)
	var held *oplock.HeldError
	if errors.As(err, &held) {
		return held.Refusal(u.ns)
	}
	if err != nil {
		return err
	}
	u.lock = lock
	if t := lock.TookOver; t != nil {
		u.g.Infof("took over the expired lock %s from %s (Job %s: %s)\n", lock.Name(), t.Holder, orNone([]string{t.Job}), t.JobState)
	}
	var renewCtx context.Context
	renewCtx, u.stopRenew = context.WithCancel(ctx)
	go lock.KeepRenewed(renewCtx, func(err error) {
		if !kube.IsConnectionError(err) { // an outage is reported once, by the watch client
			u.g.Infof("warning: lock %s: %v\n", lock.Name(), err)
		}
	})
	return nil
}

// release frees the lock (once).
func (u *upRun) release(ctx context.Context) {
	if u.lock == nil || u.released {
		return
	}
	u.released = true
	u.stopRenew()
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := u.lock.Release(rctx); err != nil {
		u.g.Infof("warning: could not release the lock %s: %v\n", u.lock.Name(), err)
	}
}

// prepare runs under the lock before the Job: the connection check, the
// database's revision (done when it is at the target already), the backup
// first, and the Job built.
func (u *upRun) prepare(ctx context.Context) (done bool, err error) {
	name, err := JobName(ctx, u.cs, u.ns, u.g.Env, u.g.Now())
	if err != nil {
		return false, err
	}
	if err := <-u.pg; err != nil {
		return false, err
	}
	if current, ok := u.readCurrent(ctx); ctx.Err() != nil {
		return false, ctx.Err()
	} else if ok && u.o.Direction == "up" && u.revs != nil && u.revs.upToDate(u.o.To, current) {
		u.r.State = migraterun.StateUpToDate
		u.r.SetDuration(time.Since(u.start))
		u.g.Infof("already at %s: nothing to do (no Job created, no backup taken)\n", describeCurrent(current, u.revs.heads))
		return true, nil
	}
	ann := map[string]string{}
	for k, v := range u.o.Annotations {
		ann[k] = v
	}
	if u.o.BackupFirst != nil {
		if u.r.Backup, err = u.o.BackupFirst.Take(ctx, u.g); err != nil {
			return false, err
		}
		ann[app.MigrationBackupAnnotation] = u.r.Backup
	}
	args := []string{"upgrade", u.o.To}
	if u.o.Direction == "down" {
		args = []string{"downgrade", u.o.To}
	}
	u.job, err = BuildJob(JobSpec{Name: name, Namespace: u.ns, Template: u.tmpl.Spec.Template, Image: u.img.Image, Args: args,
		Direction: u.o.Direction, Target: u.o.To, Retries: u.o.Retries, Timeout: u.o.Timeout, User: u.holder.User, ImageFrom: u.img.From,
		Annotations: ann})
	return false, err
}

// readCurrent reads the database's revision (alembic current) into
// Result.From; a failure is a warning.
func (u *upRun) readCurrent(ctx context.Context) ([]string, bool) {
	var a *alembicPod
	var err error
	if u.revs != nil {
		a = u.revs.alembic
	} else if a, err = findAlembicPod(ctx, u.cs, u.o.Exec, u.ns); err != nil {
		u.g.Infof("warning: could not read the database's revision before migrating: %v\n", err)
		return nil, false
	}
	out, err := a.run(ctx, "current")
	if err != nil {
		if ctx.Err() == nil {
			u.g.Infof("warning: could not read the database's revision before migrating: %v\n", err)
		}
		return nil, false
	}
	current := ParseRevisions(out)
	u.r.From = "base"
	if len(current) > 0 {
		u.r.From = strings.Join(current, ",")
	}
	u.g.Infof("database revision before the migration: %s\n", u.r.From)
	return current, true
}

// createJob creates the Job, named in the Lease before it exists: whatever
// happens to this process or the connection, the Lease never hides a Job
// that may run.
func (u *upRun) createJob(ctx context.Context) error {
	name := u.job.Name
	if err := u.lock.SetJob(ctx, name); err != nil {
		u.release(ctx)
		return err
	}
	if _, err := u.cs.BatchV1().Jobs(u.ns).Create(ctx, u.job, metav1.CreateOptions{}); err != nil {
		if kube.IsConnectionError(err) && ctx.Err() == nil {
			// The Job may have been created: the Lease (naming it) stays.
			return (&cli.Error{Code: cli.ExitCluster, Msg: cli.Classify(err, u.g.Server()).Msg}).
				WithHint("Job %s may have been created; the lock %s names it and stays with it while it runs: kubectl piyasa migrate status -n %s", name, u.lock.Name(), u.ns)
		}
		u.release(ctx)
		return err
	}
	u.r.Job = name
	u.r.JobCreatedAfter = time.Since(u.start)
	u.g.Infof("Job %s created: %s (image %s, backoffLimit %d, deadline %s)\n", name, strings.Join(u.job.Spec.Template.Spec.Containers[0].Command, " "),
		u.img.Image, u.o.Retries, u.o.Timeout)
	return nil
}

// follow prints the Job's log while it waits for the Job to end.
func (u *upRun) follow(ctx context.Context) (*batchv1.Job, *kube.PodProblem, error) {
	logOut := u.o.LogOut
	if u.logFile != nil {
		logOut = io.MultiWriter(u.o.LogOut, u.logFile)
	}
	// The follower and the wait ride out an outage of the API server (said
	// once on stderr) on a client without request timeout.
	wcs := u.cs
	if cfg, err := u.g.RESTConfig(); err == nil {
		if _, real := u.cs.(*kubernetes.Clientset); real {
			if c, err := kube.WatchClientset(cfg, u.g.ErrOut); err == nil {
				wcs = c
			}
		}
	}
	f := newFollower(wcs, u.ns, u.r.Job, app.MigrationContainer, logOut, u.g.Infof)
	fctx, stopFollow := context.WithCancel(ctx)
	defer stopFollow()
	followed := make(chan struct{})
	go func() { f.run(fctx); close(followed) }()

	final, problem, werr := waitJob(ctx, wcs, u.ns, u.r.Job, u.o.Timeout+2*time.Minute, f.problems)
	f.finish()
	select {
	case <-followed:
	case <-time.After(10 * time.Second):
		stopFollow()
		<-followed
	}
	u.r.Pods, u.r.Tail, u.r.FirstLogLatency = f.Pods(), f.Tail(), f.firstLine
	u.r.SetDuration(time.Since(u.start))
	return final, problem, werr
}

// finish reports how the Job ended and frees the lock, or leaves it with a
// Job that runs on.
func (u *upRun) finish(ctx context.Context, final *batchv1.Job, problem *kube.PodProblem, werr error) error {
	name, o, r := u.r.Job, u.o, u.r
	if werr != nil {
		if ctx.Err() != nil {
			return interrupted(u.g, o, r, u.lock, func() { u.release(ctx) })
		}
		if kube.IsConnectionLost(werr) {
			// Nothing can be released: the Lease, naming the Job, stays held while it runs.
			return (&cli.Error{Code: cli.ExitCluster, Msg: werr.Error()}).
				WithHint("Job %s keeps running in the cluster and the lock %s stays with it while it runs; when the cluster answers again: kubectl piyasa migrate status -n %s", name, u.lock.Name(), u.ns)
		}
		u.release(ctx)
		return werr
	}
	defer u.release(ctx)
	if problem != nil {
		return u.cannotStart(ctx, problem)
	}
	if oplock.JobStateOf(final) == "Complete" {
		r.State = "Complete"
		u.g.Infof("migration %s %s succeeded in %s: Job %s kept (log: kubectl logs job/%s -n %s)\n", o.Direction, o.To,
			r.Duration.Round(100*time.Millisecond), name, name, u.ns)
		return nil
	}
	r.State = "Failed"
	reportFailure(context.WithoutCancel(ctx), u.g, final, r)
	if multipleHeads(r.Tail) {
		return cli.Failedf("migration %s %s failed: the image has several Alembic heads, so `alembic upgrade head` cannot choose (Job %s)", o.Direction, o.To, name).
			WithHint("nothing was migrated; merge the heads in the code (alembic merge heads) and build a new image, or pass --to REVISION (see: kubectl piyasa migrate status -n %s)", u.ns)
	}
	return cli.Failedf("migration %s %s failed: Job %s", o.Direction, o.To, name).
		WithHint("the Job and its log are kept (kubectl logs job/%s -n %s); nothing was retried: fix the revision, then run the migration again", name, u.ns)
}

// cannotStart: the container never started, so nothing was migrated; the
// Job would only wait for its deadline while holding the lock. Remove it.
func (u *upRun) cannotStart(ctx context.Context, problem *kube.PodProblem) error {
	u.r.State = "Failed"
	bg := metav1.DeletePropagationBackground
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
	defer cancel()
	if err := u.cs.BatchV1().Jobs(u.ns).Delete(dctx, u.r.Job, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
		u.g.Infof("warning: could not delete Job %s: %v\n", u.r.Job, err)
	}
	if evs, err := kube.ObjectEvents(dctx, u.cs, u.ns, "Pod", problem.Pod); err == nil {
		for _, e := range evs {
			u.g.Infof("  %s %s: %s\n", e.Type, e.Reason, strings.TrimSpace(e.Message))
		}
	}
	return cli.Failedf("the migration pod cannot start: %s", problem.String()).
		WithHint("nothing was migrated and Job %s was deleted; fix the image (--image) or the configuration, then run the migration again", u.r.Job)
}

// multipleHeads recognises Alembic's error for `upgrade head` with several heads.
func multipleHeads(tail []string) bool {
	for _, l := range tail {
		if strings.Contains(l, "Multiple head revisions are present") {
			return true
		}
	}
	return false
}

// interrupted handles Ctrl-C and SIGTERM: leave the Job (the Lease follows
// it), or delete both; the exit-130 error says which and how to go on.
func interrupted(g *cli.Global, o Options, r *Result, lock *oplock.Lock, release func()) error {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cs, _ := g.Clientset()
	if o.CancelOnInterrupt {
		bg := metav1.DeletePropagationBackground
		if err := cs.BatchV1().Jobs(r.Namespace).Delete(ctx, r.Job, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
			g.Infof("warning: could not delete Job %s: %v\n", r.Job, err)
		}
		release()
		r.State = "Cancelled"
		return cli.Interruptedf("interrupted: Job %s deleted and the lock %s released (--cancel-on-interrupt); the database may hold part of the migration",
			r.Job, lock.Name()).WithHint("check it with: kubectl piyasa migrate status -n %s", r.Namespace)
	}
	r.State = "Interrupted"
	if err := lock.Detach(ctx); err != nil {
		g.Infof("warning: lock %s: %v\n", lock.Name(), err)
	}
	return cli.Interruptedf("interrupted: stopped following; Job %s keeps running and the lock %s stays with it until it ends", r.Job, lock.Name()).
		WithHint("follow it again: kubectl logs -f job/%s -n %s (state: kubectl piyasa migrate status -n %s)", r.Job, r.Namespace, r.Namespace)
}

// waitJob waits by watch until the Job is Complete or Failed. A list or
// watch that fails because the API server went away is retried until bound;
// a bound that runs out during an outage is a *kube.ConnectionLostError
// (with a cs of kube.WatchClientset).
func waitJob(ctx context.Context, cs kubernetes.Interface, ns, name string, bound time.Duration, problems <-chan kube.PodProblem) (*batchv1.Job, *kube.PodProblem, error) {
	ctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	ended := func() error {
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return ctx.Err()
		}
		if le := kube.ConnectionOf(cs).Lost(); le != nil {
			le.Timeout = bound
			return le
		}
		return cli.Failedf("Job %s did not finish within %s", name, bound)
	}
	backoff := 200 * time.Millisecond
	retry := func(err error) error {
		if ctx.Err() != nil {
			return ended()
		}
		if !kube.IsConnectionError(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return ended()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
		return nil
	}
	for {
		list, err := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			if err := retry(err); err != nil {
				return nil, nil, err
			}
			continue
		}
		if len(list.Items) == 0 {
			return nil, nil, cli.Failedf("Job %s was deleted before it finished", name)
		}
		if j := &list.Items[0]; oplock.JobStateOf(j) != "Running" {
			return j, nil, nil
		}
		w, err := cs.BatchV1().Jobs(ns).Watch(ctx, metav1.ListOptions{FieldSelector: sel, ResourceVersion: list.ResourceVersion})
		if err != nil {
			if err := retry(err); err != nil {
				return nil, nil, err
			}
			continue
		}
		backoff = 200 * time.Millisecond
	events:
		for {
			select {
			case <-ctx.Done(): // (a watch closes with its request's context; not every one does at once)
				w.Stop()
				return nil, nil, ended()
			case pr := <-problems:
				w.Stop()
				return nil, &pr, nil
			case ev, ok := <-w.ResultChan():
				if !ok {
					break events
				}
				if ev.Type == watch.Deleted {
					w.Stop()
					return nil, nil, cli.Failedf("Job %s was deleted before it finished", name)
				}
				if j, ok := ev.Object.(*batchv1.Job); ok && oplock.JobStateOf(j) != "Running" {
					w.Stop()
					return j, nil, nil
				}
			}
		}
		w.Stop()
		if ctx.Err() != nil {
			return nil, nil, ended()
		}
	}
}

// reportFailure prints the last log lines, the Job's condition and the pods' events.
func reportFailure(ctx context.Context, g *cli.Global, j *batchv1.Job, r *Result) {
	cs, _ := g.Clientset()
	for _, c := range j.Status.Conditions {
		if c.Type == batchv1.JobFailed && c.Status == corev1.ConditionTrue {
			g.Infof("Job %s failed: %s %s\n", r.Job, c.Reason, c.Message)
		}
	}
	if len(r.Tail) > 0 {
		g.Infof("last %d log lines:\n", len(r.Tail))
		for _, l := range r.Tail {
			g.Infof("  | %s\n", l)
		}
	}
	for _, p := range r.Pods {
		evs, err := kube.ObjectEvents(ctx, cs, r.Namespace, "Pod", p)
		if err != nil || len(evs) == 0 {
			continue
		}
		g.Infof("events of pod %s:\n", p)
		for _, e := range evs {
			g.Infof("  %s %s: %s\n", e.Type, e.Reason, strings.TrimSpace(e.Message))
		}
	}
	if evs, err := kube.ObjectEvents(ctx, cs, r.Namespace, "Job", r.Job); err == nil {
		for _, e := range evs {
			if e.Type == corev1.EventTypeWarning {
				g.Infof("  Job %s: %s: %s\n", r.Job, e.Reason, strings.TrimSpace(e.Message))
			}
		}
	}
	g.Infof("what to do: read the log above; the database is at the revision that alembic_version shows (kubectl piyasa migrate status -n %s); fix the failing revision in a new image and run `kubectl piyasa migrate` again.\n", r.Namespace)
}
