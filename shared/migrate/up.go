package migrate

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"time"

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
	// Annotations are added to the Job (e.g. the backup a caller took first).
	Annotations map[string]string
	// LogOut receives the migration's log lines (default: standard output).
	LogOut io.Writer
	// Exec runs pg_isready in the PostgreSQL pod (default: through the API server).
	Exec Execer
	// Holder is who takes the Lease (default: this user, host and process).
	Holder *oplock.Holder
	// BeforeJob runs under the lock, after the connection check and before the
	// Job is created (the seam for a backup first): the annotations it returns
	// are added to the Job (e.g. app.MigrationBackupAnnotation); an error
	// releases the lock and creates no Job.
	BeforeJob func(ctx context.Context, job string) (map[string]string, error)
	// OnJobCreated is called once the Job exists (benchmarks, callers that record it).
	OnJobCreated func(job string)
	// ReadFrom reads the database's revision under the lock before the Job
	// (alembic current in an api pod) into Result.From; a failure to read it
	// is a warning.
	ReadFrom bool
}

// Result is what one migration run did (the document of `migrate up -o json`).
type Result = migraterun.Result

// Up runs one migration as a Job under the migration Lease and reports it.
// It returns a *cli.Error (exit 1) when the migration failed, with r filled;
// an exit-130 *cli.Error when ctx ended once the Job existed (the Job is
// left running unless o.CancelOnInterrupt), context.Canceled before.
func Up(ctx context.Context, g *cli.Global, o Options) (*Result, error) {
	start := time.Now()
	if err := g.Complete(); err != nil {
		return nil, err
	}
	cs, err := g.Clientset()
	if err != nil {
		return nil, err
	}
	ns, env := g.Namespace, g.Env
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
	holder := oplock.LocalHolder()
	if o.Holder != nil {
		holder = *o.Holder
	}
	r := &Result{Namespace: ns, Direction: o.Direction, Target: o.To, FirstLogLatency: -1}

	// The connection check runs while the api template, the image and the
	// lock are looked at; the Job is created only once it has passed.
	type pgResult struct {
		msg string
		err error
	}
	pgc := make(chan pgResult, 1)
	go func() {
		msg, err := CheckPostgres(ctx, cs, o.Exec, ns)
		pgc <- pgResult{msg, err}
	}()
	pgWait := func() error {
		res := <-pgc
		if res.err == nil {
			g.Infof("%s\n", res.msg)
		}
		return res.err
	}
	d, err := APITemplate(ctx, cs, ns, env)
	if err != nil {
		return nil, err
	}
	img, err := ChooseImage(ctx, cs, ns, d.Spec.Template.Spec, o.Image)
	if err != nil {
		return nil, err
	}
	r.Image = img.Image
	if img.Warning != "" {
		g.Infof("warning: %s\n", img.Warning)
	}

	var logFile *os.File
	if o.LogFile != "" {
		if logFile, err = os.Create(o.LogFile); err != nil {
			return nil, cli.Failedf("cannot write the log file: %v", err)
		}
		defer logFile.Close()
	}

	lock, err := oplock.Acquire(ctx, cs, ns, env.MigrationLease(), holder, "migrate "+o.Direction+" "+o.To, g.Now)
	var held *oplock.HeldError
	if errors.As(err, &held) {
		return nil, held.Refusal(ns)
	}
	if err != nil {
		return nil, err
	}
	if lock.TookOver != nil {
		g.Infof("took over the expired lock %s from %s (Job %s: %s)\n", lock.Name(), lock.TookOver.Holder, orNone([]string{lock.TookOver.Job}), lock.TookOver.JobState)
	}
	released := false
	release := func() {
		if released {
			return
		}
		released = true
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := lock.Release(rctx); err != nil {
			g.Infof("warning: could not release the lock %s: %v\n", lock.Name(), err)
		}
	}
	renewCtx, stopRenew := context.WithCancel(ctx)
	defer stopRenew()
	go lock.KeepRenewed(renewCtx, func(err error) {
		if !kube.IsConnectionError(err) { // an outage is reported once, by the watch client
			g.Infof("warning: lock %s: %v\n", lock.Name(), err)
		}
	})

	name, err := JobName(ctx, cs, ns, env, g.Now())
	if err != nil {
		release()
		return nil, err
	}
	if err := pgWait(); err != nil {
		release()
		return nil, err
	}
	if o.ReadFrom {
		from, err := currentRevision(ctx, cs, o.Exec, ns)
		switch {
		case ctx.Err() != nil:
			release()
			return nil, ctx.Err()
		case err != nil:
			g.Infof("warning: could not read the database's revision before migrating: %v\n", err)
		default:
			r.From = from
			g.Infof("database revision before the migration: %s\n", from)
		}
	}
	ann := map[string]string{}
	for k, v := range o.Annotations {
		ann[k] = v
	}
	if o.BeforeJob != nil {
		extra, err := o.BeforeJob(ctx, name)
		if err != nil {
			release()
			return nil, err
		}
		for k, v := range extra {
			ann[k] = v
		}
	}
	r.Backup = ann[app.MigrationBackupAnnotation]
	args := []string{"upgrade", o.To}
	if o.Direction == "down" {
		args = []string{"downgrade", o.To}
	}
	job, err := BuildJob(JobSpec{Name: name, Namespace: ns, Template: d.Spec.Template, Image: img.Image, Args: args,
		Direction: o.Direction, Target: o.To, Retries: o.Retries, Timeout: o.Timeout, User: holder.User, ImageFrom: img.From,
		Annotations: ann})
	if err != nil {
		release()
		return nil, err
	}
	// The Lease names the Job before it exists: whatever happens to this
	// process or the connection, the Lease never hides a Job that may run.
	if err := lock.SetJob(ctx, name); err != nil {
		release()
		return nil, err
	}
	if _, err := cs.BatchV1().Jobs(ns).Create(ctx, job, metav1.CreateOptions{}); err != nil {
		if kube.IsConnectionError(err) && ctx.Err() == nil {
			// The Job may have been created: the Lease (naming it) stays.
			return nil, (&cli.Error{Code: cli.ExitCluster, Msg: cli.Classify(err, g.Server()).Msg}).
				WithHint("Job %s may have been created; the lock %s names it and stays with it while it runs: kubectl piyasa migrate status -n %s", name, lock.Name(), ns)
		}
		release()
		return nil, err
	}
	r.Job = name
	r.JobCreatedAfter = time.Since(start)
	if o.OnJobCreated != nil {
		o.OnJobCreated(name)
	}
	g.Infof("Job %s created: %s (image %s, backoffLimit %d, deadline %s)\n", name, strings.Join(job.Spec.Template.Spec.Containers[0].Command, " "),
		img.Image, o.Retries, o.Timeout)

	var logOut io.Writer = o.LogOut
	if logFile != nil {
		logOut = io.MultiWriter(o.LogOut, logFile)
	}
	// The follower and the wait ride out an outage of the API server (said
	// once on stderr) on a client without request timeout.
	wcs := cs
	if cfg, err := g.RESTConfig(); err == nil {
		if _, real := cs.(*kubernetes.Clientset); real {
			if c, err := kube.WatchClientset(cfg, g.ErrOut); err == nil {
				wcs = c
			}
		}
	}
	f := newFollower(wcs, ns, name, app.MigrationContainer, logOut, g.Infof)
	fctx, stopFollow := context.WithCancel(ctx)
	defer stopFollow()
	followed := make(chan struct{})
	go func() { f.run(fctx); close(followed) }()

	final, problem, werr := waitJob(ctx, wcs, ns, name, o.Timeout+2*time.Minute, f.problems)
	f.finish()
	select {
	case <-followed:
	case <-time.After(10 * time.Second):
		stopFollow()
		<-followed
	}
	r.Pods, r.Tail, r.FirstLogLatency = f.Pods(), f.Tail(), f.firstLine
	r.SetDuration(time.Since(start))

	if werr != nil {
		if ctx.Err() != nil {
			return r, interrupted(g, o, r, lock, release)
		}
		if kube.IsConnectionLost(werr) {
			// Nothing can be released: the Lease, naming the Job, stays held while it runs.
			return r, (&cli.Error{Code: cli.ExitCluster, Msg: werr.Error()}).
				WithHint("Job %s keeps running in the cluster and the lock %s stays with it while it runs; when the cluster answers again: kubectl piyasa migrate status -n %s", name, lock.Name(), ns)
		}
		release()
		return r, werr
	}
	defer release()
	if problem != nil {
		// The container never started, so nothing was migrated: the Job would
		// only wait for its deadline while holding the lock. Remove it.
		r.State = "Failed"
		bg := metav1.DeletePropagationBackground
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		defer cancel()
		if err := cs.BatchV1().Jobs(ns).Delete(dctx, name, metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
			g.Infof("warning: could not delete Job %s: %v\n", name, err)
		}
		if evs, err := kube.ObjectEvents(dctx, cs, ns, "Pod", problem.Pod); err == nil {
			for _, e := range evs {
				g.Infof("  %s %s: %s\n", e.Type, e.Reason, strings.TrimSpace(e.Message))
			}
		}
		return r, cli.Failedf("the migration pod cannot start: %s", problem.String()).
			WithHint("nothing was migrated and Job %s was deleted; fix the image (--image) or the configuration, then run the migration again", name)
	}
	if oplock.JobStateOf(final) == "Complete" {
		r.State = "Complete"
		g.Infof("migration %s %s succeeded in %s: Job %s kept (log: kubectl logs job/%s -n %s)\n", o.Direction, o.To,
			r.Duration.Round(100*time.Millisecond), name, name, ns)
		return r, nil
	}
	r.State = "Failed"
	reportFailure(context.WithoutCancel(ctx), g, final, r)
	if multipleHeads(r.Tail) {
		return r, cli.Failedf("migration %s %s failed: the image has several Alembic heads, so `alembic upgrade head` cannot choose (Job %s)", o.Direction, o.To, name).
			WithHint("nothing was migrated; merge the heads in the code (alembic merge heads) and build a new image, or pass --to REVISION (see: kubectl piyasa migrate status -n %s)", ns)
	}
	return r, cli.Failedf("migration %s %s failed: Job %s", o.Direction, o.To, name).
		WithHint("the Job and its log are kept (kubectl logs job/%s -n %s); nothing was retried: fix the revision, then run the migration again", name, ns)
}

// currentRevision is the database's revision as `alembic current` in an api
// pod gives it: several comma-separated, "base" when none was applied.
func currentRevision(ctx context.Context, cs kubernetes.Interface, ex Execer, ns string) (string, error) {
	a, err := findAlembicPod(ctx, cs, ex, ns)
	if err != nil {
		return "", err
	}
	out, err := a.run(ctx, "current")
	if err != nil {
		return "", err
	}
	if cur := ParseRevisions(out); len(cur) > 0 {
		return strings.Join(cur, ","), nil
	}
	return "base", nil
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
