package kube

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	appsinformers "k8s.io/client-go/informers/apps/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
)

// Workload names a Deployment or StatefulSet to wait for.
type Workload struct {
	Component string `json:"component"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
}

// WorkloadStatus is the rollout state of one workload.
type WorkloadStatus struct {
	Workload
	Desired   int32  `json:"desired"`
	Ready     int32  `json:"ready"`
	Updated   int32  `json:"updated"`
	Available int32  `json:"available"`
	Image     string `json:"image,omitempty"`
	// Done is true once the rollout is complete (kubectl rollout status semantics).
	Done bool `json:"done"`
	// Message is kubectl's rollout status message while not done.
	Message string `json:"message,omitempty"`
	// Found is false while the workload does not exist.
	Found bool `json:"found"`
	// Failure says why the rollout cannot finish: a Deployment past its
	// progress deadline (ProgressDeadlineExceeded), which `kubectl rollout
	// status` reports as an error.
	Failure string `json:"failure,omitempty"`
}

// ReasonProgressDeadlineExceeded is the reason of a FailureError for a
// Deployment past its progressDeadlineSeconds.
const ReasonProgressDeadlineExceeded = progressDeadlineExceeded

// FailureError reports a pod that stops a rollout (CrashLoopBackOff, OOMKilled ...).
type FailureError struct {
	Workload Workload
	Problem  PodProblem
}

func (e *FailureError) Error() string {
	return fmt.Sprintf("%s %s/%s is failing: %s", e.Workload.Component, strings.ToLower(e.Workload.Kind), e.Workload.Name, e.Problem)
}

// TimeoutError reports workloads still not ready when the timeout ran out.
type TimeoutError struct {
	Timeout time.Duration
	Pending []WorkloadStatus
}

func (e *TimeoutError) Error() string {
	var parts []string
	for _, s := range e.Pending {
		msg := strings.TrimSpace(s.Message)
		switch {
		case !s.Found && msg == "":
			msg = "not read yet"
		case !s.Found:
			msg = "not found"
		}
		parts = append(parts, fmt.Sprintf("%s %s/%s (%s)", s.Component, strings.ToLower(s.Kind), s.Name, msg))
	}
	if len(parts) == 0 {
		parts = append(parts, "the workloads")
	}
	return fmt.Sprintf("timed out after %s waiting for %s", e.Timeout, strings.Join(parts, ", "))
}

// WaitOptions tunes WaitForWorkloads.
type WaitOptions struct {
	// Timeout bounds the wait (0: no bound besides the context).
	Timeout time.Duration
	// OnProgress is called from one goroutine each time a workload's status changes.
	OnProgress func(WorkloadStatus)
	// FailFast stops the wait at the first pod of the workload's current
	// revision in a fatal state (FatalProblem: CrashLoopBackOff, OOMKilled,
	// ImagePullBackOff, Unschedulable ...), at pods the API server refuses
	// (FailedCreate), and at a Deployment past its progress deadline
	// (ProgressDeadlineExceeded), as `kubectl rollout status` fails. Pods of
	// an older revision are left out: after a rollback the pods of the
	// revision rolled back from fail until they are replaced.
	FailFast bool
	// Settled also waits until the workload has exactly the desired number of
	// pods: rollout status reports a scale-down done while the surplus pods
	// still exist, a scale is done when they are gone.
	Settled bool
}

// WatchConfig returns a copy of cfg fit for long watches: --request-timeout
// bounds single requests, and must not cut a watch short.
func WatchConfig(cfg *rest.Config) *rest.Config {
	c := rest.CopyConfig(cfg)
	c.Timeout = 0
	return c
}

// WaitForWorkloads waits until every workload has completed its rollout, as
// `kubectl rollout status` judges it, by watching Deployments, StatefulSets
// and Pods of the namespace (one LIST and one WATCH per kind). It returns the
// final statuses; a *FailureError when FailFast sees a failing pod or a
// Deployment past its progress deadline; a *TimeoutError on timeout;
// ctx.Err() as soon as the context ends (Ctrl-C, SIGTERM). With a cs of
// WatchClientset, an outage of the API server is ridden out (the informers
// re-list) and reported once, and a timeout that runs out during one is a
// *ConnectionLostError (exit 3).
func WaitForWorkloads(ctx context.Context, cs kubernetes.Interface, ns string, workloads []Workload, opts WaitOptions) ([]WorkloadStatus, error) {
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Timeout)
		defer cancel()
	}
	factory := NewInformers(cs, ns)
	ww := &workloadWait{ns: ns, opts: opts,
		deploys: factory.Apps().Deployments(), stss: factory.Apps().StatefulSets(), replicaSets: factory.Apps().ReplicaSets(),
		pods: factory.Core().Pods(), events: factory.Core().Events(),
		// Events older than the wait (from an earlier rollout) are ignored; event
		// times have whole seconds, so the bound has some slack.
		start: time.Now().Add(-2 * time.Second).Truncate(time.Second)}
	changed := make(chan struct{}, 1)
	notify := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	synced := ww.watch(ctx, workloads, notify)
	stop := make(chan struct{})
	var once sync.Once
	factory.Start(stop)
	defer factory.Shutdown()
	defer once.Do(func() { close(stop) })
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		// Nothing was read yet: every workload is still pending.
		unread := make([]WorkloadStatus, len(workloads))
		for i, w := range workloads {
			unread[i] = WorkloadStatus{Workload: w}
		}
		return nil, lostOr(cs, opts.Timeout, waitErr(ctx, opts, unread)) // reconnect.go
	}

	last := map[Workload]WorkloadStatus{}
	for {
		statuses, allDone, err := ww.poll(workloads, last)
		if err != nil {
			return statuses, err
		}
		if allDone {
			return statuses, nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return statuses, lostOr(cs, opts.Timeout, waitErr(ctx, opts, statuses)) // reconnect.go
		}
	}
}

// workloadWait is what WaitForWorkloads watches. The informers are made only
// when first used (watch), so a kind that is not needed is neither read nor
// needs the right to be.
type workloadWait struct {
	ns          string
	opts        WaitOptions
	deploys     appsinformers.DeploymentInformer
	stss        appsinformers.StatefulSetInformer
	replicaSets appsinformers.ReplicaSetInformer
	pods        coreinformers.PodInformer
	events      coreinformers.EventInformer
	// rsRead tells the revision of a Deployment's pods; nil without
	// fail-fast or Deployments.
	rsRead *replicaSetRead
	start  time.Time
}

// watch registers notify on the informers the workloads and the options
// need and returns their HasSynced.
func (ww *workloadWait) watch(ctx context.Context, workloads []Workload, notify func()) []cache.InformerSynced {
	needDeploy, needSTS := false, false
	for _, w := range workloads {
		needDeploy = needDeploy || w.Kind == "Deployment"
		needSTS = needSTS || w.Kind == "StatefulSet"
	}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { notify() },
		UpdateFunc: func(any, any) { notify() },
		DeleteFunc: func(any) { notify() },
	}
	var synced []cache.InformerSynced
	if needDeploy {
		_, _ = ww.deploys.Informer().AddEventHandler(handler)
		synced = append(synced, ww.deploys.Informer().HasSynced)
	}
	if needSTS {
		_, _ = ww.stss.Informer().AddEventHandler(handler)
		synced = append(synced, ww.stss.Informer().HasSynced)
	}
	if ww.opts.FailFast {
		_, _ = ww.pods.Informer().AddEventHandler(handler)
		_, _ = ww.events.Informer().AddEventHandler(handler)
		synced = append(synced, ww.pods.Informer().HasSynced, ww.events.Informer().HasSynced)
		if needDeploy {
			// A Deployment's current revision is its ReplicaSet of the same
			// revision. The wait does not depend on reading them: without the
			// right to, every pod counts (no revision is told apart).
			inf := ww.replicaSets.Informer()
			rsRead := &replicaSetRead{lister: ww.replicaSets.Lister(), synced: inf.HasSynced}
			ww.rsRead = rsRead
			_, _ = inf.AddEventHandler(handler)
			_ = inf.SetWatchErrorHandler(func(r *cache.Reflector, err error) {
				if apierrors.IsForbidden(err) && !rsRead.forbidden.Swap(true) {
					notify()
				}
				cache.DefaultWatchErrorHandler(ctx, r, err)
			})
		}
	}
	return synced
}

// poll reads the status of every workload, reports the changed ones to
// OnProgress, and with FailFast returns a *FailureError at the first failure.
func (ww *workloadWait) poll(workloads []Workload, last map[Workload]WorkloadStatus) ([]WorkloadStatus, bool, error) {
	statuses := make([]WorkloadStatus, 0, len(workloads))
	allDone := true
	for _, w := range workloads {
		obj, image := ww.read(w)
		st := StatusOf(w, obj, ww.opts.Settled)
		st.Image = image
		statuses = append(statuses, st)
		allDone = allDone && st.Done
		if prev, ok := last[w]; !ok || prev != st {
			last[w] = st
			if ww.opts.OnProgress != nil {
				ww.opts.OnProgress(st)
			}
		}
		if ww.opts.FailFast && obj != nil && !st.Done {
			if err := ww.failure(w, obj, st); err != nil {
				return statuses, false, err
			}
		}
	}
	return statuses, allDone, nil
}

// read returns the workload's object (nil: not there) and its first image.
func (ww *workloadWait) read(w Workload) (runtime.Object, string) {
	switch w.Kind {
	case "Deployment":
		if d, err := ww.deploys.Lister().Deployments(ww.ns).Get(w.Name); err == nil {
			return d, firstImage(d.Spec.Template.Spec)
		}
	case "StatefulSet":
		if s, err := ww.stss.Lister().StatefulSets(ww.ns).Get(w.Name); err == nil {
			return s, firstImage(s.Spec.Template.Spec)
		}
	}
	return nil, ""
}

// failure is the *FailureError of a workload past its progress deadline,
// with a failing pod of its current revision or pods the API server refuses
// (nil: none).
func (ww *workloadWait) failure(w Workload, obj runtime.Object, st WorkloadStatus) error {
	if st.Failure != "" {
		return &FailureError{Workload: w, Problem: PodProblem{Reason: ReasonProgressDeadlineExceeded, Message: st.Failure, Fatal: true}}
	}
	rev := currentRevision(obj, ww.rsRead)
	if p, ok := failingPod(ww.pods.Lister(), ww.ns, rev); ok {
		return &FailureError{Workload: w, Problem: p}
	}
	if p, ok := refusedPods(ww.events.Lister(), ww.ns, w, rev, ww.start); ok {
		return &FailureError{Workload: w, Problem: p}
	}
	return nil
}

func waitErr(ctx context.Context, opts WaitOptions, statuses []WorkloadStatus) error {
	if ctx.Err() == context.DeadlineExceeded && opts.Timeout > 0 {
		var pending []WorkloadStatus
		for _, s := range statuses {
			if !s.Done {
				pending = append(pending, s)
			}
		}
		return &TimeoutError{Timeout: opts.Timeout, Pending: pending}
	}
	return ctx.Err()
}

func firstImage(spec corev1.PodSpec) string {
	if len(spec.Containers) == 0 {
		return ""
	}
	return spec.Containers[0].Image
}

// StatusOf computes a workload's rollout status with kubectl's status viewers
// (the suite's one definition of "rolled out"); obj is a *Deployment, a
// *StatefulSet or nil (not found). settled also asks for exactly the desired
// number of pods.
func StatusOf(w Workload, obj runtime.Object, settled bool) WorkloadStatus {
	st := WorkloadStatus{Workload: w}
	if obj == nil {
		st.Message = "waiting for " + strings.ToLower(w.Kind) + " " + w.Name + " to be created"
		return st
	}
	st.Found = true
	var gk schema.GroupKind
	var pods int32
	switch o := obj.(type) {
	case *appsv1.Deployment:
		gk = schema.GroupKind{Group: "apps", Kind: "Deployment"}
		st.Desired = Replicas(o.Spec.Replicas)
		st.Ready, st.Updated, st.Available = o.Status.ReadyReplicas, o.Status.UpdatedReplicas, o.Status.AvailableReplicas
		pods = o.Status.Replicas
	case *appsv1.StatefulSet:
		gk = schema.GroupKind{Group: "apps", Kind: "StatefulSet"}
		st.Desired = Replicas(o.Spec.Replicas)
		st.Ready, st.Updated, st.Available = o.Status.ReadyReplicas, o.Status.UpdatedReplicas, o.Status.AvailableReplicas
		pods = o.Status.Replicas
	}
	viewer, err := StatusViewerFor(gk)
	if err != nil {
		st.Message = err.Error()
		return st
	}
	u, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		st.Message = err.Error()
		return st
	}
	msg, done, err := viewer.Status(&unstructured.Unstructured{Object: u}, 0)
	if err != nil {
		st.Message = err.Error()
		if d, ok := obj.(*appsv1.Deployment); ok && pastDeadline(d) != nil {
			st.Failure = err.Error()
			if m := strings.TrimSpace(pastDeadline(d).Message); m != "" {
				st.Failure += " (" + strings.TrimSuffix(m, ".") + ")"
			}
			if settled && st.Desired == 0 && pods == 0 {
				// Scaled to zero and gone: nothing is left to roll out.
				st.Done, st.Message, st.Failure = true, "", ""
			}
		}
		return st
	}
	st.Done, st.Message = done, strings.TrimSpace(msg)
	if done && settled && (pods != st.Desired || st.Ready != st.Desired) {
		st.Done = false
		st.Message = fmt.Sprintf("waiting for %d pods, all ready (%d pods, %d ready)", st.Desired, pods, st.Ready)
	}
	if st.Done {
		st.Message = ""
	}
	return st
}

// refusedPods returns the newest FailedCreate event since start in which the
// API server refused a pod of the workload ("... is forbidden: exceeded
// quota ..."): its controller retries, but nothing changes until the quota,
// LimitRange or policy does. A Deployment's pods are created by its
// ReplicaSets (named after it; the current one's only, once rev knows it), a
// StatefulSet's by itself.
func refusedPods(lister corelisters.EventLister, ns string, w Workload, rev revision, start time.Time) (PodProblem, bool) {
	if rev.kind == "Deployment" && rev.pending {
		return PodProblem{}, false
	}
	list, err := lister.Events(ns).List(labels.Everything())
	if err != nil {
		return PodProblem{}, false
	}
	var newest *corev1.Event
	for _, e := range list {
		if e.Reason != ReasonFailedCreate || !strings.Contains(e.Message, "forbidden") {
			continue
		}
		io := e.InvolvedObject
		mine := (w.Kind == "StatefulSet" && io.Kind == "StatefulSet" && io.Name == w.Name) ||
			(w.Kind == "Deployment" && io.Kind == "ReplicaSet" && strings.HasPrefix(io.Name, w.Name+"-") &&
				(rev.replicaSet == "" || io.Name == rev.replicaSet))
		if !mine {
			continue
		}
		t := EventTime(*e)
		if t.Time.Before(start) {
			continue
		}
		if newest == nil || EventTime(*newest).Time.Before(t.Time) {
			newest = e
		}
	}
	if newest == nil {
		return PodProblem{}, false
	}
	msg := strings.Join(strings.Fields(newest.Message), " ")
	return PodProblem{Reason: ReasonFailedCreate, Message: msg, Fatal: true}, true
}

// revision tells the pods of a workload's current revision from older ones.
type revision struct {
	selector labels.Selector
	// pending: the controller has not observed the workload's latest spec
	// yet (or its current ReplicaSet is not read yet), so no pod owned by a
	// revision can be told current.
	pending bool
	// replicaSet (Deployment) is the name of the ReplicaSet of the current
	// revision, "" when not known; hash (StatefulSet) is its update revision.
	replicaSet, replicaSetUID, hash string
	kind                            string
}

// replicaSetRead is the ReplicaSet watch of a wait.
type replicaSetRead struct {
	lister appslisters.ReplicaSetLister
	synced func() bool
	// forbidden: the user may not list or watch ReplicaSets.
	forbidden atomic.Bool
}

// currentRevision reads the current revision of a Deployment (its ReplicaSet
// whose revision annotation is the Deployment's) or of a StatefulSet (its
// status.updateRevision).
func currentRevision(obj runtime.Object, rsRead *replicaSetRead) revision {
	var rev revision
	var sel *metav1.LabelSelector
	switch o := obj.(type) {
	case *appsv1.Deployment:
		rev.kind, sel = "Deployment", o.Spec.Selector
		rev.pending = o.Generation > o.Status.ObservedGeneration
		want := o.Annotations[DeploymentRevisionAnnotation]
		if rsRead == nil || rsRead.forbidden.Load() {
			break // no revision to tell: every pod counts
		}
		if !rsRead.synced() {
			rev.pending = true
			break
		}
		if want != "" && !rev.pending {
			if list, err := rsRead.lister.ReplicaSets(o.Namespace).List(labels.Everything()); err == nil {
				for _, rs := range list {
					if metav1.IsControlledBy(rs, o) && rs.Annotations[DeploymentRevisionAnnotation] == want {
						rev.replicaSet, rev.replicaSetUID = rs.Name, string(rs.UID)
					}
				}
			}
			// The ReplicaSet watch lags the Deployment's: wait for it.
			rev.pending = rev.replicaSet == ""
		}
	case *appsv1.StatefulSet:
		rev.kind, sel = "StatefulSet", o.Spec.Selector
		rev.pending = o.Generation > o.Status.ObservedGeneration
		rev.hash = o.Status.UpdateRevision
	}
	if s, err := metav1.LabelSelectorAsSelector(sel); err == nil {
		rev.selector = s
	}
	return rev
}

// older tells whether a pod belongs to an older revision than the current
// one (or cannot be told current yet). A pod with no revision to tell (no
// owning ReplicaSet, no revision label) counts as current.
func (r revision) older(p *corev1.Pod) bool {
	switch r.kind {
	case "Deployment":
		ref := metav1.GetControllerOf(p)
		if ref == nil || ref.Kind != "ReplicaSet" {
			return false
		}
		if r.pending {
			return true
		}
		return r.replicaSetUID != "" && string(ref.UID) != r.replicaSetUID
	case "StatefulSet":
		h, ok := p.Labels[appsv1.ControllerRevisionHashLabelKey]
		if !ok {
			return false
		}
		if r.pending {
			return true
		}
		return r.hash != "" && h != r.hash
	}
	return false
}

// pastDeadline returns the Progressing condition of d when the Deployment
// controller has given up on its current rollout (ProgressDeadlineExceeded
// for the spec it has observed), else nil.
func pastDeadline(d *appsv1.Deployment) *appsv1.DeploymentCondition {
	if d.Generation > d.Status.ObservedGeneration {
		return nil
	}
	for i, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing {
			if c.Reason == progressDeadlineExceeded {
				return &d.Status.Conditions[i]
			}
			return nil
		}
	}
	return nil
}

// failingPod returns the first pod of the workload's current revision that is
// in a fatal state.
func failingPod(lister corelisters.PodLister, ns string, rev revision) (PodProblem, bool) {
	if rev.selector == nil || rev.selector.Empty() {
		return PodProblem{}, false
	}
	list, err := lister.Pods(ns).List(rev.selector)
	if err != nil {
		return PodProblem{}, false
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	for _, p := range list {
		if rev.older(p) {
			continue
		}
		if prob, ok := FatalProblem(p); ok {
			return prob, true
		}
	}
	return PodProblem{}, false
}
