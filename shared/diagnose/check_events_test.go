package diagnose

import (
	"context"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

func TestCheckEvents(t *testing.T) {
	runAreaCases(t, AreaEvents, []areaCase{
		{name: "warning event", code: "PIY950", msg: "BackOff x3", break_: func(s *Snapshot) {
			s.Events = append(s.Events, EventGroup{Kind: "Pod", Name: "gone-pod", Reason: "BackOff", Count: 3, Last: s.Now.Add(-time.Minute), Message: "Back-off restarting failed container"})
		}},
		{name: "event on a pod that is not ready", code: "PIY950", msg: "Unhealthy", break_: func(s *Snapshot) {
			p := &s.Pods[0]
			p.Ready, p.ReadyFor = false, 0
			s.Events = append(s.Events, EventGroup{Kind: "Pod", Name: p.Name, Reason: "Unhealthy", Count: 2, Last: s.Now.Add(-time.Minute), Message: "Readiness probe failed"})
		}},
		// a claim that is not Bound (here: no longer read): its binding warning stands
		{name: "ClaimLost on a claim not Bound", code: "PIY950", msg: "ClaimLost", break_: func(s *Snapshot) {
			s.Events = append(s.Events, EventGroup{Kind: "PersistentVolumeClaim", Name: "other-pvc", Reason: "ClaimLost", Count: 1, Last: s.Now.Add(-time.Minute),
				Message: "Bound claim has lost its PersistentVolume. Data on the volume is lost!"})
		}},
	})
}

// A warning that the object's present state contradicts is history: every
// fresh demo ended with "ClaimLost ... Data on the volume is lost!" for a
// claim that is Bound.
func TestClaimEventsOfABoundClaimAreHistory(t *testing.T) {
	s := healthySnapshot()
	for _, reason := range []string{"ClaimLost", "ProvisioningFailed", "FailedBinding"} {
		s.Events = append(s.Events, EventGroup{Kind: "PersistentVolumeClaim", Name: "dev-postgres-pvc", Reason: reason, Count: 1, Last: s.Now.Add(-time.Minute),
			Message: "Bound claim has lost its PersistentVolume. Data on the volume is lost!"})
	}
	rep := Analyze(context.Background(), s, Config{Only: CodeSet{"PIY950": true}}, nil, nil)
	if len(rep.Findings) != 0 {
		t.Errorf("events of a Bound claim: %s", findingList(rep))
	}
}

// TestEventsOfPodsReadySinceAreHistory (issue 13 #3): FailedScheduling for
// unbound PVCs of postgres and redis pods that have been Ready since is not a warning.
func TestEventsOfPodsReadySinceAreHistory(t *testing.T) {
	s := healthySnapshot()
	for _, p := range s.Pods {
		if p.Component == "postgres" || p.Component == "redis" {
			s.Events = append(s.Events, EventGroup{Kind: "Pod", Name: p.Name, Reason: "FailedScheduling", Count: 2, Last: s.Now.Add(-p.ReadyFor - time.Minute),
				Message: "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 nodes are available"})
		}
	}
	if rep := analyzeOnly(s, AreaEvents); len(rep.Findings) != 0 {
		t.Errorf("history reported: %s", findingList(rep))
	}
}

func TestEventMessageDropsStrayNotFound(t *testing.T) {
	for in, want := range map[string]string{
		"0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: not found": "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims.",
		"0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. not found":             "0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims.",
		`persistentvolumeclaim "dev-postgres-pvc" not found`:                                               `persistentvolumeclaim "dev-postgres-pvc" not found`,
		"Back-off restarting failed container":                                                             "Back-off restarting failed container",
	} {
		if got := eventMessage(in); got != want {
			t.Errorf("eventMessage(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestEventsWithinTheReadySecondAreHistory (issue 13 #3, as seen on a real
// cluster): the scheduler's FailedScheduling events of a fresh redis pod
// (series last observed at .631 s) fall in the same second as its Ready
// transition, which the API keeps in whole seconds (:40Z). The pod is
// scheduled and Ready: history, not a warning; and the message has no stray
// "not found".
func TestEventsWithinTheReadySecondAreHistory(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, "2026-12-02T01:36:"+s+"Z")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	redis, _ := app.LookupComponent(app.Redis)
	pod := func(uid string, scheduled, ready bool) *corev1.Pod {
		cond := func(ty corev1.PodConditionType, ok bool) corev1.PodCondition {
			st := corev1.ConditionFalse
			if ok {
				st = corev1.ConditionTrue
			}
			return corev1.PodCondition{Type: ty, Status: st, LastTransitionTime: metav1.Time{Time: at("40")}}
		}
		phase := corev1.PodRunning
		if !scheduled {
			phase = corev1.PodPending
		}
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "dev-redis-0", UID: types.UID(uid), Labels: redis.Labels},
			Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: app.Redis, Image: "redis:7-alpine"}}},
			Status: corev1.PodStatus{Phase: phase, Conditions: []corev1.PodCondition{cond(corev1.PodScheduled, scheduled), cond(corev1.PodReady, ready)}}}
	}
	event := func(uid, reason, msg string) *corev1.Event {
		return &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "dev-redis-0.1"}, Type: corev1.EventTypeWarning, Reason: reason, Message: msg,
			InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "dev-redis-0", UID: types.UID(uid)},
			EventTime:      metav1.MicroTime{Time: at("40.403796")},
			Series:         &corev1.EventSeries{Count: 2, LastObservedTime: metav1.MicroTime{Time: at("40.631480")}}}
	}
	const unbound = "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims. not found"
	run := func(p *corev1.Pod, e *corev1.Event) *Report {
		s := healthySnapshot()
		s.Now = at("43.2")
		for i := range s.Pods {
			if s.Pods[i].Component == app.Redis {
				s.Pods[i] = summarizePod(p, s.Now)
			}
		}
		s.events = map[string]*EventGroup{}
		s.addEvent(e)
		s.finishEvents()
		return analyzeOnly(s, AreaEvents)
	}
	for _, c := range []struct {
		name string
		pod  *corev1.Pod
		ev   *corev1.Event
		want bool
	}{
		{"scheduled and Ready: FailedScheduling is history", pod("u1", true, true), event("u1", "FailedScheduling", unbound), false},
		{"Ready in the same second: a probe failure before it is history", pod("u1", true, true), event("u1", "Unhealthy", "Readiness probe failed"), false},
		{"an earlier pod of the name, its successor Ready", pod("u2", true, true), event("u1", "BackOff", "Back-off restarting failed container"), false},
		{"still unscheduled: a warning", pod("u1", false, false), event("u1", "FailedScheduling", unbound), true},
		{"scheduled but not Ready: a probe failure is a warning", pod("u1", true, false), event("u1", "Unhealthy", "Readiness probe failed"), true},
	} {
		rep := run(c.pod, c.ev)
		if got := len(rep.Findings) > 0; got != c.want {
			t.Errorf("%s: findings %q, want some: %v", c.name, findingList(rep), c.want)
		}
		for _, f := range rep.Findings {
			if strings.HasSuffix(strings.TrimSpace(f.Message), "not found") {
				t.Errorf("%s: stray \"not found\": %q", c.name, f.Message)
			}
		}
	}
}

// TestHPAMetricsFailuresBeforeMetricsAreHistory: a fresh deploy's HPAs fail
// to get metrics until metrics-server has the new pods' (about a minute);
// once ScalingActive is True since, those events are history. While it is
// False they stay a warning here (PIY412 reports the condition itself).
func TestHPAMetricsFailuresBeforeMetricsAreHistory(t *testing.T) {
	for _, active := range []bool{true, false} {
		s := healthySnapshot()
		h := &s.HPAs[0]
		st := corev1.ConditionFalse
		if active {
			st = corev1.ConditionTrue
		}
		h.Status.Conditions = []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.ScalingActive, Status: st,
			Reason: "ValidMetricFound", LastTransitionTime: metav1.Time{Time: s.Now.Add(-30 * time.Second).Truncate(time.Second)}}}
		for _, reason := range []string{"FailedGetResourceMetric", "FailedComputeMetricsReplicas"} {
			s.Events = append(s.Events, EventGroup{Kind: "HorizontalPodAutoscaler", Name: h.Name, Reason: reason, Count: 3, Last: s.Now.Add(-45 * time.Second),
				Message: "failed to get memory utilization: unable to get metrics for resource memory: no metrics returned from resource metrics API"})
		}
		rep := analyzeOnly(s, AreaEvents)
		if got := len(rep.Findings); (got == 0) != active {
			t.Errorf("ScalingActive %v: findings %q", active, findingList(rep))
		}
	}
}
