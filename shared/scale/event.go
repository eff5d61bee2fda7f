package scale

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// ScaledReason is the reason of the Event the suite records on a workload it
// scaled; `scale status` shows it as the last scale event.
const ScaledReason = "PiyasaScaled"

// recordScaled records a Normal event on the workload, as kubectl's own
// controllers do, so that `scale status` and `kubectl describe` show who
// scaled it and why. Best effort: a user without the right to create events
// still scales.
func recordScaled(ctx context.Context, cs kubernetes.Interface, ns string, kind, name, uid, msg string, now time.Time) {
	t := metav1.NewTime(now)
	ev := &corev1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", name, now.UnixNano()), Namespace: ns},
		InvolvedObject:      corev1.ObjectReference{Kind: kind, APIVersion: "apps/v1", Namespace: ns, Name: name, UID: types.UID(uid)},
		Reason:              ScaledReason,
		Message:             msg,
		Type:                corev1.EventTypeNormal,
		Source:              corev1.EventSource{Component: app.FieldManager},
		FirstTimestamp:      t,
		LastTimestamp:       t,
		Count:               1,
		ReportingController: app.FieldManager,
	}
	_, _ = cs.CoreV1().Events(ns).Create(ctx, ev, metav1.CreateOptions{})
}
