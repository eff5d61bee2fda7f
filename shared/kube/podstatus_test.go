package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func pod(statuses ...corev1.ContainerStatus) *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: statuses}}
}

func TestPodProblems(t *testing.T) {
	crash := corev1.ContainerStatus{Name: "api", RestartCount: 4,
		State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: ReasonCrashLoopBackOff, Message: "back-off 40s"}},
		LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: ReasonOOMKilled, ExitCode: 137}}}
	p, ok := FatalProblem(pod(crash))
	if !ok || p.Reason != ReasonCrashLoopBackOff || p.LastTermination != ReasonOOMKilled || p.ExitCode != 137 {
		t.Fatalf("crash: %+v %v", p, ok)
	}
	if s := p.String(); s != "pod p container api: CrashLoopBackOff (last: OOMKilled, exit 137, 4 restarts): back-off 40s" {
		t.Errorf("string: %s", s)
	}
	creating := corev1.ContainerStatus{Name: "api", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}
	if _, ok := FatalProblem(pod(creating)); ok {
		t.Error("ContainerCreating is not fatal")
	}
	running := corev1.ContainerStatus{Name: "api", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	if len(PodProblems(pod(running))) != 0 {
		t.Error("running pod has problems")
	}
	cfg := corev1.ContainerStatus{Name: "api", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: ReasonCreateContainerConfigError, Message: `couldn't find key DB_PASSWORD in Secret ns/piyasa-secrets`}}}
	if p, ok := FatalProblem(pod(cfg)); !ok || p.Reason != ReasonCreateContainerConfigError {
		t.Errorf("config error: %+v", p)
	}
	pending := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: corev1.PodStatus{Phase: corev1.PodPending,
		Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: ReasonUnschedulable, Message: "0/2 nodes are available: 2 Insufficient cpu."}}}}
	if p, ok := FatalProblem(pending); !ok || p.Reason != ReasonUnschedulable {
		t.Errorf("unschedulable: %+v", p)
	}
	deleting := pod(crash)
	deleting.DeletionTimestamp = &metav1.Time{}
	if _, ok := FatalProblem(deleting); ok {
		t.Error("a terminating pod does not stop a rollout")
	}
}

func TestUnboundPVCIsNotFatal(t *testing.T) {
	pod := &corev1.Pod{}
	pod.Name = "p"
	pod.Status.Phase = corev1.PodPending
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: ReasonUnschedulable,
		Message: "0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/2 nodes are available"}}
	if _, fatal := FatalProblem(pod); fatal {
		t.Fatal("a pod waiting for its PVC to bind stops the rollout")
	}
	if len(PodProblems(pod)) != 1 {
		t.Fatal("the wait for the PVC is not reported as a problem")
	}
	pod.Status.Conditions[0].Message = `0/2 nodes are available: persistentvolumeclaim "data" bound to non-existent persistentvolume "pvc-1". not found`
	if _, fatal := FatalProblem(pod); fatal {
		t.Fatal("a PVC bound to a volume the scheduler has not seen yet stops the rollout")
	}
	pod.Status.Conditions[0].Message = "0/2 nodes are available: 2 Insufficient cpu."
	if _, fatal := FatalProblem(pod); !fatal {
		t.Fatal("insufficient cpu is not fatal")
	}
}
