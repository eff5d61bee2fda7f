package diagnose

import (
	"testing"
	"time"
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
	})
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
