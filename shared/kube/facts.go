package kube

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
