package kube

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/exit"
)

// Annotations the suite sets as kubectl does.
const (
	// RestartedAtAnnotation is what `kubectl rollout restart` sets on a pod template.
	RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"
	// ChangeCauseAnnotation records why a workload changed (`kubectl rollout history`).
	ChangeCauseAnnotation = "kubernetes.io/change-cause"
	// RevisionAnnotation is the Deployment controller's revision number.
	RevisionAnnotation = "deployment.kubernetes.io/revision"
)

// Replicas returns a spec's replica count: nil means 1, as the API defaults it.
func Replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// EventTime is when an event was last seen, with one precedence for the whole
// suite: the last observation of its series, then lastTimestamp, then
// eventTime (events.k8s.io), then the object's creation.
func EventTime(e corev1.Event) metav1.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return metav1.Time{Time: e.Series.LastObservedTime.Time}
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp
	case !e.EventTime.IsZero():
		return metav1.Time{Time: e.EventTime.Time}
	default:
		return e.CreationTimestamp
	}
}

// NotFound turns a NotFound API error about an object of the app into an
// exit-1 error that says so and how to deploy it; other errors are returned
// as they are. what is e.g. "deployment/dev-api".
func NotFound(err error, what, ns string) error {
	if apierrors.IsNotFound(err) {
		return exit.Failedf("%s not found in namespace %s", what, ns).
			WithHint("deploy the app first: kubectl piyasa deploy --env ENV -n %s", ns)
	}
	return err
}

// NamespaceTerminating reports whether err is the API server's refusal to
// create objects in a namespace that is being deleted.
func NamespaceTerminating(err error) bool {
	return apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) ||
		(apierrors.IsForbidden(err) && strings.Contains(err.Error(), "because it is being terminated"))
}

// TerminatingError says that namespace ns is being deleted, with a way on.
func TerminatingError(ns string) *exit.Error {
	return exit.Failedf("namespace %s is being deleted (Terminating): nothing can be created in it until it is gone", ns).
		WithHint("wait for it: kubectl wait --for=delete namespace/%s --timeout=5m, then run the command again", ns)
}

// Subject names a workload in messages, e.g. "api (deployment/dev-api)".
func (w Workload) Subject() string {
	return fmt.Sprintf("%s (%s/%s)", w.Component, strings.ToLower(w.Kind), w.Name)
}

// RestoreMark is one of the app's workloads as InterruptedRestore reads it.
type RestoreMark struct {
	// Component is the app's component (api, worker); Kind and Name the workload's.
	Component, Kind, Name string
	// Replicas is the workload's spec.replicas.
	Replicas    int32
	Annotations map[string]string
}

// RestoreLeft is what a live restore that did not finish left on the app:
// its workloads stopped and annotated (app.RestoreAnnotation and the older
// app.ReplicasBeforeRestoreAnnotation).
type RestoreLeft struct {
	// Record is the restore's record; Record.Backup is "" when only the older
	// annotation was found (a restore whose backup is unknown).
	Record app.RestoreRecord `json:"record"`
	// Replicas are the counts to come back to, by component (the recorded ones).
	Replicas map[string]int32 `json:"replicas"`
	// Objects are the workloads it stopped, e.g. "deployment/dev-api".
	Objects []string `json:"objects"`
	// Message says it in one line; Finish, Undo and Restart are the commands
	// (Undo "" without a safety backup, Finish "" when the backup is unknown).
	Message string `json:"message"`
	Finish  string `json:"finish,omitempty"`
	Undo    string `json:"undo,omitempty"`
	Restart string `json:"restart,omitempty"`
}

// Known tells whether the restore's record (its backup) was found.
func (r RestoreLeft) Known() bool { return r.Record.Backup != "" }

// Hint is the one or two lines that say what to do: finish the restore (the
// same restore again), or go back (the safety backup); without the record,
// restart the app at the recorded counts.
func (r RestoreLeft) Hint() string {
	var parts []string
	if r.Finish != "" {
		parts = append(parts, "finish it (the same restore again): "+r.Finish)
	}
	if r.Undo != "" {
		parts = append(parts, "or go back to the database as it was: "+r.Undo)
	}
	if len(parts) == 0 {
		parts = append(parts, "the backup it restored is not recorded: check the data, then restart the app at its recorded counts: "+r.Restart)
	}
	return strings.Join(parts, "; ")
}

// InterruptedRestore tells whether a restore stopped the app and did not
// finish: a workload carries the restore's annotations while at 0 replicas
// (a restore removes them when it starts the app again; annotations left on
// a running app, restarted by hand, are stale and ignored). ns names the
// namespace in the commands.
func InterruptedRestore(marks []RestoreMark, ns string) (RestoreLeft, bool) {
	var left RestoreLeft
	stopped := false
	var workloads []RestoreMark
	for _, m := range marks {
		rec, hasRec := m.Annotations[app.RestoreAnnotation]
		before, hasBefore := m.Annotations[app.ReplicasBeforeRestoreAnnotation]
		if !hasRec && !hasBefore {
			continue
		}
		workloads = append(workloads, m)
		stopped = stopped || m.Replicas == 0
		left.Objects = append(left.Objects, strings.ToLower(m.Kind)+"/"+m.Name)
		if hasRec && !left.Known() {
			if r, err := app.ParseRestoreRecord(rec); err == nil {
				left.Record = r
			}
		}
		if left.Replicas == nil {
			left.Replicas = map[string]int32{}
		}
		var n int32
		if _, err := fmt.Sscanf(strings.TrimSpace(before), "%d", &n); hasBefore && err == nil && n > 0 {
			left.Replicas[m.Component] = n
		}
	}
	if !stopped {
		return RestoreLeft{}, false
	}
	// the record's counts win over the older per-workload annotation
	for c, n := range left.Record.Replicas {
		if n > 0 {
			left.Replicas[c] = n
		}
	}
	sort.Strings(left.Objects)
	var counts, restart []string
	for _, m := range workloads {
		if n, ok := left.Replicas[m.Component]; ok {
			counts = append(counts, fmt.Sprintf("%s=%d", m.Component, n))
			restart = append(restart, fmt.Sprintf("kubectl scale -n %s %s/%s --replicas=%d", ns, strings.ToLower(m.Kind), m.Name, n))
		}
	}
	sort.Strings(counts)
	was := ""
	if len(counts) > 0 {
		was = " (were " + strings.Join(counts, " ") + ")"
	}
	if left.Known() {
		r := left.Record
		by := ""
		if r.Holder != "" {
			by = " by " + r.Holder
		}
		left.Message = fmt.Sprintf("a restore of %s did not finish: it stopped the app at %s%s and left %s at 0 replicas%s",
			r.Backup, r.Since.UTC().Format(time.RFC3339), by, strings.Join(left.Objects, ", "), was)
		if r.SafetyBackup != "" {
			left.Message += "; safety backup of the database as it was: " + r.SafetyBackup
		}
		left.Finish, left.Undo = r.FinishCommand(ns), r.UndoCommand(ns)
	} else {
		left.Message = fmt.Sprintf("a restore (backup not recorded) did not finish: it left %s at 0 replicas%s",
			strings.Join(left.Objects, ", "), was)
	}
	left.Restart = strings.Join(restart, "; ")
	return left, true
}
