package scale

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The last scale event is chosen by kube.EventTime, the suite's one
// precedence: a series' last observation before lastTimestamp (an event that
// repeats keeps its first lastTimestamp).
func TestLastScaleUsesTheSuitesEventTime(t *testing.T) {
	t0 := time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)
	ev := func(msg string, last, series time.Time) *corev1.Event {
		e := &corev1.Event{InvolvedObject: corev1.ObjectReference{Kind: "StatefulSet", Name: "dev-worker"},
			Reason: "SuccessfulCreate", Message: msg, LastTimestamp: metav1.NewTime(last)}
		if !series.IsZero() {
			e.Series = &corev1.EventSeries{Count: 3, LastObservedTime: metav1.NewMicroTime(series)}
		}
		return e
	}
	events := []*corev1.Event{
		ev("repeating", t0, t0.Add(10*time.Minute)),
		ev("once", t0.Add(5*time.Minute), time.Time{}),
	}
	got := lastScale(events, "StatefulSet", "dev-worker", "")
	if got == nil || got.Message != "repeating" || !got.Time.Time.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("lastScale = %+v, want the repeating event at its series' last observation", got)
	}
}
