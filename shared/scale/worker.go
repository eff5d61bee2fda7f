package scale

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/kube"
	"github.com/piyasa/kubectl-piyasa/shared/table"
)

// workerState is what scale worker changes, so that it can be put back.
type workerState struct {
	total     *string // TOTAL_WORKERS (nil: key absent)
	replicas  int32
	restarted *string // the restartedAt template annotation (nil: absent)
}

// LockAnnotation marks the worker ConfigMap while a `scale worker` changes
// the workers: two at once would leave the count of only one of them, or
// workers started with the other's TOTAL_WORKERS. The annotation is set in the
// same patch (with a resourceVersion precondition) as TOTAL_WORKERS, so only
// one command can take it, and it expires so that a killed command does not
// block the next one for ever.
const LockAnnotation = "piyasa.io/scale-worker-lock"

// workerLock is the value of LockAnnotation.
type workerLock struct {
	Holder  string    `json:"holder"`
	Expires time.Time `json:"expires"`
}

// lockHolder names this process in the lock: host, process id and a random part.
func lockHolder() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// heldLock returns the lock on cm that another command holds now (nil: free or expired).
func heldLock(cm *corev1.ConfigMap, now time.Time) *workerLock {
	v, ok := cm.Annotations[LockAnnotation]
	if !ok {
		return nil
	}
	var l workerLock
	if err := json.Unmarshal([]byte(v), &l); err != nil || !now.Before(l.Expires) {
		return nil
	}
	return &l
}

// concurrentError is the failure when another command changed obj between
// this command's read and its write (a Conflict on the resourceVersion
// precondition).
func concurrentError(obj, ns, did string) *cli.Error {
	return cli.Failedf("another command changed %s at the same time (another scale worker?); %s", obj, did).
		WithHint("see what it did: kubectl piyasa scale status -n %s; then run this command again if the count is not the one you want", ns)
}

// runWorker scales the worker StatefulSet: TOTAL_WORKERS in the ConfigMap and
// the replicas together, with a restart of every worker (a new restartedAt
// template annotation in the same patch as the replicas), then waits. If the
// StatefulSet patch or the wait fails, both are put back. A lock on the
// ConfigMap (LockAnnotation) keeps a second scale worker out until this one
// is done, and the count is checked again after the wait.
func (o *Options) runWorker(ctx context.Context, cs kubernetes.Interface) error {
	c, err := o.readWorkers(ctx, cs)
	if err != nil {
		return err
	}
	ns, ref, n := o.Namespace, c.ref, c.n
	if c.old.total != nil && *c.old.total == c.newTotal && c.old.replicas == n {
		return o.workersUnchanged(ctx, cs, c)
	}
	if o.DryRun.Client() {
		o.Printf("%s would be scaled: %d -> %d replicas, TOTAL_WORKERS %s -> %s in configmap/%s, every worker restarted%s\n",
			ref, c.old.replicas, n, c.oldTotal, c.newTotal, c.cmName, o.DryRun.Suffix())
		return nil
	}
	popts := metav1.PatchOptions{FieldManager: app.FieldManager, DryRun: o.DryRun.Server()}

	// Step 1: TOTAL_WORKERS and the lock, in one patch that fails if the
	// ConfigMap changed since the GET (another scale took the lock first).
	lock, err := o.lockAndSetTotal(ctx, cs, c, popts)
	if err != nil {
		return err
	}
	if !o.DryRun.Active() {
		defer o.releaseLock(cs, c.cmName, lock.Holder)
	}
	o.Infof("configmap/%s: TOTAL_WORKERS %s -> %s%s\n", c.cmName, c.oldTotal, c.newTotal, o.DryRun.Suffix())

	// Step 2: replicas and a restart of every worker, in one patch.
	now := o.Now().UTC().Format(time.RFC3339)
	if err := o.patchStatefulSet(ctx, cs, c.sts, n, now, popts); err != nil {
		if o.DryRun == cli.DryRunServer {
			return err
		}
		return o.scaleFailed(cs, c, err)
	}
	o.Printf("%s scaled: %d -> %d replicas, TOTAL_WORKERS %s -> %s, restarting every worker%s\n", ref, c.old.replicas, n, c.oldTotal, c.newTotal, o.DryRun.Suffix())
	if o.DryRun.Active() {
		return nil
	}
	recordScaled(ctx, cs, ns, o.comp.Kind, c.stsName, string(c.sts.UID),
		fmt.Sprintf("Scaled from %d to %d replicas with TOTAL_WORKERS %s -> %s, every worker restarted, by kubectl piyasa scale", c.old.replicas, n, c.oldTotal, c.newTotal), o.Now())
	if !o.Wait {
		return nil
	}
	return o.waitScaledWorkers(ctx, cs, c, now)
}

// workerChange is what runWorker read and is about to change.
type workerChange struct {
	ref, stsName, cmName string
	sts                  *appsv1.StatefulSet
	cm                   *corev1.ConfigMap
	n                    int32
	old                  workerState
	oldTotal, newTotal   string
}

// readWorkers reads the StatefulSet and the ConfigMap, refuses while another
// scale worker holds the lock, and notes what is there now.
func (o *Options) readWorkers(ctx context.Context, cs kubernetes.Interface) (*workerChange, error) {
	ns := o.Namespace
	c := &workerChange{stsName: o.Env.WorkloadName(o.comp), cmName: o.Env.ConfigMap(), ref: workloadRef(o.Env, o.comp), n: o.replicas}
	sts, err := cs.AppsV1().StatefulSets(ns).Get(ctx, c.stsName, metav1.GetOptions{})
	if err != nil {
		return nil, kube.NotFound(err, c.ref, ns)
	}
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, c.cmName, metav1.GetOptions{})
	if err != nil {
		return nil, kube.NotFound(err, "configmap/"+c.cmName+" (it holds TOTAL_WORKERS)", ns)
	}
	if l := heldLock(cm, o.Now()); l != nil {
		return nil, cli.Failedf("another scale worker (%s) is changing the workers: it holds the lock on configmap/%s until %s at the latest; nothing was changed",
			l.Holder, c.cmName, l.Expires.UTC().Format(time.RFC3339)).
			WithHint("wait until it is done (kubectl piyasa scale status -w -n %s), then run this command again if the count is not %d; a lock left by a killed command is removed with: kubectl annotate configmap %s %s- -n %s",
				ns, c.n, c.cmName, LockAnnotation, ns)
	}
	c.sts, c.cm = sts, cm
	c.old = workerState{replicas: replicasOf(sts.Spec.Replicas)}
	if v, ok := cm.Data[app.KeyTotalWorkers]; ok {
		c.old.total = &v
	}
	if v, ok := sts.Spec.Template.Annotations[kube.RestartedAtAnnotation]; ok {
		c.old.restarted = &v
	}
	c.newTotal = strconv.Itoa(int(c.n))
	c.oldTotal = "(unset)"
	if c.old.total != nil {
		c.oldTotal = *c.old.total
	}
	return c, nil
}

// workersUnchanged says the workers are already at the count and waits for
// them (unless a dry run or --wait=false).
func (o *Options) workersUnchanged(ctx context.Context, cs kubernetes.Interface, c *workerChange) error {
	o.Printf("%s already has %s and TOTAL_WORKERS=%s\n", c.ref, plural(c.n, "replica", "replicas"), c.newTotal)
	if o.DryRun.Active() || !o.Wait {
		return nil
	}
	err := o.wait(ctx, cs, kube.Workload{Component: o.comp.Name, Kind: o.comp.Kind, Name: c.stsName})
	if err != nil && ctx.Err() != nil && !errors.As(err, new(*kube.TimeoutError)) {
		return cli.Interruptedf("interrupted while waiting: nothing was changed").WithHint("watch the workers: kubectl piyasa scale status -w -n %s", o.Namespace)
	}
	return err
}

// lockAndSetTotal sets TOTAL_WORKERS and takes the lock in one patch with
// the ConfigMap's resourceVersion as a precondition.
func (o *Options) lockAndSetTotal(ctx context.Context, cs kubernetes.Interface, c *workerChange, popts metav1.PatchOptions) (workerLock, error) {
	expires := o.Now().Add(o.Timeout + time.Minute)
	if o.Timeout == 0 {
		expires = o.Now().Add(time.Hour)
	}
	lock := workerLock{Holder: lockHolder(), Expires: expires.UTC().Truncate(time.Second)}
	cmPatch := mustJSON(map[string]any{
		"metadata": map[string]any{"resourceVersion": c.cm.ResourceVersion, "annotations": map[string]any{LockAnnotation: string(mustJSON(lock))}},
		"data":     map[string]any{app.KeyTotalWorkers: c.newTotal},
	})
	if _, err := cs.CoreV1().ConfigMaps(o.Namespace).Patch(ctx, c.cmName, types.MergePatchType, cmPatch, popts); err != nil {
		if apierrors.IsConflict(err) {
			return lock, concurrentError("configmap/"+c.cmName, o.Namespace, "nothing was changed")
		}
		return lock, fmt.Errorf("setting TOTAL_WORKERS in configmap/%s: %w (nothing was changed)", c.cmName, err)
	}
	return lock, nil
}

// scaleFailed puts TOTAL_WORKERS back after the StatefulSet patch failed
// with err, and says so.
func (o *Options) scaleFailed(cs kubernetes.Interface, c *workerChange, err error) error {
	ns, ref := o.Namespace, c.ref
	classified := cli.Classify(err, "")
	cause := classified.Msg
	if apierrors.IsConflict(err) {
		cause = fmt.Sprintf("another command changed %s at the same time", ref)
	}
	if rerr := o.restoreConfigMap(cs, c.cmName, c.old); rerr != nil {
		return withCode(cli.Failedf("scaling %s failed: %s; putting TOTAL_WORKERS back to %s ALSO failed: %v", ref, cause, c.oldTotal, rerr).
			WithHint("set it back by hand: kubectl patch configmap %s -n %s --type merge -p '{\"data\":{\"%s\":\"%s\"}}'", c.cmName, ns, app.KeyTotalWorkers, c.oldTotal), classified)
	}
	e := cli.Failedf("scaling %s failed: %s; rolled back: TOTAL_WORKERS is %s again, replicas stay %d, no worker was restarted", ref, cause, c.oldTotal, c.old.replicas)
	if apierrors.IsConflict(err) {
		return e.WithHint("see what changed: kubectl piyasa scale status -n %s; then run this command again", ns)
	}
	return withCode(e.WithHint("fix the cause (rights: kubectl auth can-i patch statefulsets -n %s) and run the command again", ns), classified)
}

// waitScaledWorkers waits for the scaled workers and checks the count; when
// the wait fails it rolls back what this command set.
func (o *Options) waitScaledWorkers(ctx context.Context, cs kubernetes.Interface, c *workerChange, now string) error {
	ns, ref, n := o.Namespace, c.ref, c.n
	werr := o.wait(ctx, cs, kube.Workload{Component: o.comp.Name, Kind: o.comp.Kind, Name: c.stsName})
	if werr == nil {
		// The wait follows the StatefulSet as it is: a change by someone else
		// (kubectl scale, a deploy) may have ended it at another count.
		return o.checkWorkers(cs, c.cmName, c.stsName, n, now, "")
	}
	if ctx.Err() != nil && !errors.As(werr, new(*kube.TimeoutError)) {
		// Nothing is rolled back: both halves are set, the workers restart.
		return cli.Interruptedf("interrupted while waiting: %s has %d replicas and TOTAL_WORKERS=%s; the workers are still restarting", ref, n, c.newTotal).
			WithHint("watch them: kubectl piyasa scale status -w -n %s; to go back: kubectl piyasa scale worker %d -n %s", ns, c.old.replicas, ns)
	}
	if kube.IsConnectionLost(werr) {
		// Nothing can be checked or rolled back while the API server cannot be reached.
		return (&cli.Error{Code: cli.ExitCluster, Msg: werr.Error()}).
			WithHint("%s has %d replicas and TOTAL_WORKERS=%s, nothing was rolled back; when the cluster answers again: kubectl piyasa scale status -n %s", ref, n, c.newTotal, ns)
	}
	cause := werr.Error()
	var ce *cli.Error
	if errors.As(werr, &ce) {
		cause = ce.Msg
	}
	// Roll back only what this command set: a change by someone else stays.
	if cerr := o.checkWorkers(cs, c.cmName, c.stsName, n, now, cause); cerr != nil {
		return cerr
	}
	if rerr := o.restoreWorkers(cs, c.cmName, c.stsName, c.old); rerr != nil {
		return cli.Failedf("scaling %s failed: %s; rolling back ALSO failed: %v", ref, cause, rerr).
			WithHint("set TOTAL_WORKERS=%s in configmap/%s and %d replicas by hand, then: kubectl rollout restart %s -n %s", c.oldTotal, c.cmName, c.old.replicas, ref, ns)
	}
	rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	recordScaled(rctx, cs, ns, o.comp.Kind, c.stsName, string(c.sts.UID),
		fmt.Sprintf("Rolled back to %d replicas with TOTAL_WORKERS %s by kubectl piyasa scale after: %s", c.old.replicas, c.oldTotal, cause), o.Now())
	return cli.Failedf("scaling %s failed: %s; rolled back: TOTAL_WORKERS is %s again and %s is back to %d replicas at its previous pod template",
		ref, cause, c.oldTotal, ref, c.old.replicas).
		WithHint("find out why: kubectl piyasa diagnose -n %s (a worker that stays broken may need: kubectl delete pod <name> -n %s)", ns, ns)
}

// patchStatefulSet sets the replicas and the restartedAt annotation with the
// resourceVersion of sts as a precondition. A Conflict caused only by the
// controller writing the status (the generation is unchanged: nobody changed
// the spec) is retried with the new resourceVersion; a changed spec is
// returned as the Conflict.
func (o *Options) patchStatefulSet(ctx context.Context, cs kubernetes.Interface, sts *appsv1.StatefulSet, n int32, restartedAt string, popts metav1.PatchOptions) error {
	rv := sts.ResourceVersion
	var err error
	for range 3 {
		patch := mustJSON(map[string]any{
			"metadata": map[string]any{"resourceVersion": rv},
			"spec": map[string]any{
				"replicas": n,
				"template": map[string]any{"metadata": map[string]any{"annotations": map[string]any{kube.RestartedAtAnnotation: restartedAt}}},
			},
		})
		_, err = cs.AppsV1().StatefulSets(sts.Namespace).Patch(ctx, sts.Name, types.MergePatchType, patch, popts)
		if !apierrors.IsConflict(err) {
			return err
		}
		fresh, gerr := cs.AppsV1().StatefulSets(sts.Namespace).Get(ctx, sts.Name, metav1.GetOptions{})
		if gerr != nil || fresh.Generation != sts.Generation {
			return err
		}
		rv = fresh.ResourceVersion
	}
	return err
}

// checkWorkers reads the StatefulSet and TOTAL_WORKERS again and fails when
// they are no longer what this command set (n replicas, TOTAL_WORKERS=n, its
// restartedAt): someone else changed the workers meanwhile. cause is the
// wait's failure ("" after a successful wait). Nothing is rolled back then.
func (o *Options) checkWorkers(cs kubernetes.Interface, cmName, stsName string, n int32, restartedAt, cause string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := o.Namespace
	ref := workloadRef(o.Env, o.comp)
	sts, err := cs.AppsV1().StatefulSets(ns).Get(ctx, stsName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("checking %s after the wait: %w", ref, err)
	}
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, cmName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("checking configmap/%s after the wait: %w", cmName, err)
	}
	replicas := replicasOf(sts.Spec.Replicas)
	total, ok := cm.Data[app.KeyTotalWorkers]
	if !ok {
		total = "(unset)"
	}
	ours := replicas == n && total == strconv.Itoa(int(n)) && sts.Spec.Template.Annotations[kube.RestartedAtAnnotation] == restartedAt
	if ours {
		return nil
	}
	what := "while this command waited"
	if cause != "" {
		what = fmt.Sprintf("while this command waited (and the wait failed: %s)", cause)
	}
	return cli.Failedf("another command changed the workers %s: %s has %d replicas and TOTAL_WORKERS=%s, not the %d asked for; nothing was rolled back",
		what, ref, replicas, total, n).
		WithHint("see the state: kubectl piyasa scale status -n %s; then run kubectl piyasa scale worker N -n %s with the count you want", ns, ns)
}

// releaseLock removes this command's lock from the ConfigMap (a fresh
// context: the command's own may have run out). A lock it cannot remove
// expires on its own; the user is told how to remove it at once.
func (o *Options) releaseLock(cs kubernetes.Interface, cmName, holder string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var err error
	for range 3 {
		var cm *corev1.ConfigMap
		cm, err = cs.CoreV1().ConfigMaps(o.Namespace).Get(ctx, cmName, metav1.GetOptions{})
		if err != nil {
			break
		}
		var l workerLock
		if json.Unmarshal([]byte(cm.Annotations[LockAnnotation]), &l) != nil || l.Holder != holder {
			return // not ours (any more)
		}
		patch := mustJSON(map[string]any{"metadata": map[string]any{"resourceVersion": cm.ResourceVersion, "annotations": map[string]any{LockAnnotation: nil}}})
		_, err = cs.CoreV1().ConfigMaps(o.Namespace).Patch(ctx, cmName, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: app.FieldManager})
		if !apierrors.IsConflict(err) {
			break
		}
	}
	if err != nil {
		o.Infof("warning: could not remove the scale lock from configmap/%s (%s); it expires on its own, or: kubectl annotate configmap %s %s- -n %s\n",
			cmName, cli.Classify(err, "").Msg, cmName, LockAnnotation, o.Namespace)
	}
}

// restoreConfigMap puts TOTAL_WORKERS back as it was (a fresh context: the
// command's own may have run out).
func (o *Options) restoreConfigMap(cs kubernetes.Interface, cmName string, old workerState) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var v any // nil removes the key
	if old.total != nil {
		v = *old.total
	}
	patch := mustJSON(map[string]any{"data": map[string]any{app.KeyTotalWorkers: v}})
	_, err := cs.CoreV1().ConfigMaps(o.Namespace).Patch(ctx, cmName, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: app.FieldManager})
	if err == nil {
		o.Infof("%s\n", table.DetectTerminal(o.ErrOut).Red(fmt.Sprintf("rolled back configmap/%s: TOTAL_WORKERS=%s", cmName, strOr(old.total, "(unset)"))))
	}
	return err
}

// restoreWorkers puts TOTAL_WORKERS, the replicas and the pod template's
// restart annotation back: the template then equals the previous revision, so
// the workers already restarted go back to it (and read the old total) and
// the others are left alone.
func (o *Options) restoreWorkers(cs kubernetes.Interface, cmName, stsName string, old workerState) error {
	if err := o.restoreConfigMap(cs, cmName, old); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var ann any
	if old.restarted != nil {
		ann = *old.restarted
	}
	patch := mustJSON(map[string]any{"spec": map[string]any{
		"replicas": old.replicas,
		"template": map[string]any{"metadata": map[string]any{"annotations": map[string]any{kube.RestartedAtAnnotation: ann}}},
	}})
	_, err := cs.AppsV1().StatefulSets(o.Namespace).Patch(ctx, stsName, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: app.FieldManager})
	if err == nil {
		o.Infof("%s\n", table.DetectTerminal(o.ErrOut).Red(fmt.Sprintf("rolled back statefulset/%s: %d replicas, previous pod template", stsName, old.replicas)))
	}
	return err
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // maps of strings and numbers always marshal
	}
	return b
}

func strOr(p *string, def string) string {
	if p == nil {
		return def
	}
	return *p
}

// withCode keeps the suite's exit code 3 when the cause was the cluster
// (unreachable, forbidden), 1 otherwise.
func withCode(e *cli.Error, cause *cli.Error) *cli.Error {
	if cause != nil && cause.Code == cli.ExitCluster {
		e.Code = cli.ExitCluster
	}
	return e
}
