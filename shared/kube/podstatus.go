// Package kube holds the Kubernetes mechanics the commands share: reading why
// a pod is failing, waiting for workloads by watching, and small helpers.
package kube

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Pod failure reasons, as the kubelet and the scheduler report them.
const (
	ReasonCrashLoopBackOff           = "CrashLoopBackOff"
	ReasonOOMKilled                  = "OOMKilled"
	ReasonImagePullBackOff           = "ImagePullBackOff"
	ReasonErrImagePull               = "ErrImagePull"
	ReasonInvalidImageName           = "InvalidImageName"
	ReasonCreateContainerConfigError = "CreateContainerConfigError"
	ReasonCreateContainerError       = "CreateContainerError"
	ReasonUnschedulable              = "Unschedulable"
	ReasonError                      = "Error"
	// ReasonFailedCreate is the controllers' event when the API server refuses
	// a workload's pod (a ResourceQuota, a LimitRange, Pod Security admission).
	ReasonFailedCreate = "FailedCreate"
)

// fatalReasons are the states in which a rollout will not make progress on its own.
var fatalReasons = map[string]bool{
	ReasonCrashLoopBackOff: true, ReasonOOMKilled: true, ReasonImagePullBackOff: true, ReasonErrImagePull: true,
	ReasonInvalidImageName: true, ReasonCreateContainerConfigError: true, ReasonCreateContainerError: true,
	ReasonUnschedulable: true,
}

// PodProblem describes why one pod is not healthy.
type PodProblem struct {
	Pod       string `json:"pod"`
	Container string `json:"container,omitempty"`
	// Reason is the kubelet's or scheduler's reason, e.g. CrashLoopBackOff.
	Reason string `json:"reason"`
	// Message is the kubelet's or scheduler's message.
	Message string `json:"message,omitempty"`
	// LastTermination is the reason of the container's previous termination (e.g. OOMKilled).
	LastTermination string `json:"lastTermination,omitempty"`
	ExitCode        int32  `json:"exitCode,omitempty"`
	Restarts        int32  `json:"restarts"`
	// Fatal problems do not resolve on their own: a rollout waiting for this pod should stop.
	Fatal bool `json:"fatal"`
}

// String is a one-line description, e.g. "pod dev-api-1 container api: CrashLoopBackOff (last: OOMKilled, exit 137)".
func (p PodProblem) String() string {
	var b strings.Builder
	if p.Pod != "" {
		fmt.Fprintf(&b, "pod %s", p.Pod)
		if p.Container != "" {
			fmt.Fprintf(&b, " container %s", p.Container)
		}
		b.WriteString(": ")
	}
	b.WriteString(p.Reason)
	var extra []string
	if p.LastTermination != "" && p.LastTermination != p.Reason {
		extra = append(extra, "last: "+p.LastTermination)
	}
	if p.ExitCode != 0 {
		extra = append(extra, fmt.Sprintf("exit %d", p.ExitCode))
	}
	if p.Restarts > 0 {
		extra = append(extra, fmt.Sprintf("%d restarts", p.Restarts))
	}
	if len(extra) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(extra, ", "))
	}
	if p.Message != "" {
		fmt.Fprintf(&b, ": %s", p.Message)
	}
	return b.String()
}

// PodProblems returns the problems of a pod: containers waiting in an error
// state, containers last killed for running out of memory, and an
// unschedulable pod. A healthy or merely starting pod gives none.
func PodProblems(pod *corev1.Pod) []PodProblem {
	var out []PodProblem
	if pod.Status.Phase == corev1.PodPending {
		for _, c := range pod.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == ReasonUnschedulable {
				// Waiting for a PersistentVolumeClaim to be bound (or for the
				// scheduler to see its new volume) is transient while a provisioner
				// works: a problem, but not one that stops a rollout at once (the
				// timeout still does).
				fatal := !strings.Contains(strings.ToLower(c.Message), "persistentvolumeclaim")
				out = append(out, PodProblem{Pod: pod.Name, Reason: ReasonUnschedulable, Message: c.Message, Fatal: fatal})
			}
		}
	}
	statuses := append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...)
	for _, cs := range statuses {
		p := PodProblem{Pod: pod.Name, Container: cs.Name, Restarts: cs.RestartCount}
		if t := cs.LastTerminationState.Terminated; t != nil {
			p.LastTermination = t.Reason
			p.ExitCode = t.ExitCode
		}
		switch {
		case cs.State.Waiting != nil && cs.State.Waiting.Reason != "" && cs.State.Waiting.Reason != "ContainerCreating" && cs.State.Waiting.Reason != "PodInitializing":
			p.Reason = cs.State.Waiting.Reason
			p.Message = cs.State.Waiting.Message
		case cs.State.Terminated != nil && cs.State.Terminated.Reason == ReasonOOMKilled:
			p.Reason = ReasonOOMKilled
			p.ExitCode = cs.State.Terminated.ExitCode
			p.Message = cs.State.Terminated.Message
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode != 0 && pod.Spec.RestartPolicy != corev1.RestartPolicyNever:
			p.Reason = ReasonError
			p.ExitCode = cs.State.Terminated.ExitCode
			p.Message = cs.State.Terminated.Message
		case cs.State.Running != nil && p.LastTermination == ReasonOOMKilled:
			// running again after an OOM kill: worth reporting, not fatal for a rollout
			p.Reason = ReasonOOMKilled
			out = append(out, p)
			continue
		default:
			continue
		}
		p.Fatal = fatalReasons[p.Reason] || (p.Reason == ReasonError && cs.RestartCount > 0)
		out = append(out, p)
	}
	return out
}

// FatalProblem returns the first problem of the pod that stops a rollout, if any.
func FatalProblem(pod *corev1.Pod) (PodProblem, bool) {
	if pod.DeletionTimestamp != nil {
		return PodProblem{}, false
	}
	for _, p := range PodProblems(pod) {
		if p.Fatal {
			return p, true
		}
	}
	return PodProblem{}, false
}
