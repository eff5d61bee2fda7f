package diagnose

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
)

// checkEvents reports the warning events of the last hour (PIY950) that no
// other check explains, leaving out history: events about a pod that has
// been Ready since they last happened.
func (r *runner) checkEvents(context.Context) {
	if !r.begin("PIY950", KindEvents) {
		return
	}
	evs := append([]EventGroup{}, r.s.Events...)
	sort.Slice(evs, func(i, j int) bool {
		if evs[i].Count != evs[j].Count {
			return evs[i].Count > evs[j].Count
		}
		return evs[i].Kind+evs[i].Name+evs[i].Reason < evs[j].Kind+evs[j].Name+evs[j].Reason
	})
	// objects already reported by another check: their events are evidence there
	reported := map[string]bool{}
	for _, f := range r.out {
		reported[f.Object.Kind+"/"+f.Object.Name] = true
	}
	kept := evs[:0]
	for _, e := range evs {
		if !reported[e.Kind+"/"+e.Name] && !r.eventHistory(e) {
			kept = append(kept, e)
		}
	}
	evs = kept
	const maxGroups = 25
	for i, e := range evs {
		if i == maxGroups {
			r.add("PIY950", "app", Object{Kind: "Event", Name: "..."}, fmt.Sprintf("%d more groups of warning events", len(evs)-maxGroups), nil, "")
			break
		}
		comp := "app"
		if e.Kind == "Pod" {
			for _, p := range r.s.Pods {
				if p.Name == e.Name && p.Component != "" {
					comp = p.Component
				}
			}
		}
		r.add("PIY950", comp, Object{Kind: e.Kind, Name: e.Name}, fmt.Sprintf("%s x%d: %s", e.Reason, e.Count, truncate(eventMessage(e.Message), 200)),
			[]string{"last seen " + e.Last.UTC().Format(time.RFC3339)},
			fmt.Sprintf("kubectl get events -n %s --field-selector type=Warning,involvedObject.name=%s", r.s.Namespace, e.Name))
	}
}

// eventHistory tells whether an event group is about a condition that has
// since cleared: an HPA's metrics failures once it scales on metrics again
// (hpaMetricsHistory); a claim's binding failures (ClaimLost, ...) once it is
// Bound (pvcHistory); scheduling failures of a pod that is scheduled now (a
// pod is bound once; e.g. "unbound immediate PersistentVolumeClaims" while
// the volume was provisioned), any event of a pod that has been Ready since
// it last happened, and events of an earlier pod of the same name (a
// StatefulSet's pod recreated) whose successor is Ready. Condition times
// have whole seconds: an event within the second of the Ready transition
// counts as before it (on a fast cluster both fall in one second).
func (r *runner) eventHistory(e EventGroup) bool {
	if e.Kind == "HorizontalPodAutoscaler" {
		return r.hpaMetricsHistory(e)
	}
	if e.Kind == "PersistentVolumeClaim" {
		return r.pvcHistory(e)
	}
	if e.Kind != "Pod" {
		return false
	}
	for _, p := range r.s.Pods {
		if p.Name != e.Name {
			continue
		}
		if e.UID != "" && p.UID != "" && e.UID != p.UID {
			return p.Ready
		}
		if e.Reason == reasonFailedScheduling && p.Scheduled {
			return true
		}
		readySince := r.s.Now.Add(-p.ReadyFor)
		return p.Ready && p.ReadyFor > 0 && e.Last.Before(readySince.Add(time.Second))
	}
	return false
}

// pvcBindingReasons are the warnings about a claim that is not bound (or lost
// its volume): a claim that is Bound now contradicts them.
var pvcBindingReasons = map[string]bool{"ClaimLost": true, "ProvisioningFailed": true, "FailedBinding": true, "ClaimMisbound": true, "VolumeMismatch": true}

// pvcHistory tells whether a claim's binding warning is history: the claim
// (the same object, when the event names its UID) is Bound now.
func (r *runner) pvcHistory(e EventGroup) bool {
	if !pvcBindingReasons[e.Reason] {
		return false
	}
	for _, c := range r.s.PVCs {
		if c.Name != e.Name {
			continue
		}
		if e.UID != "" && c.UID != "" && string(c.UID) != e.UID {
			return true // about an earlier claim of that name
		}
		return c.Status.Phase == corev1.ClaimBound
	}
	return false
}

// hpaMetricsHistory tells whether an HPA's metrics failure (FailedGet...Metric,
// FailedComputeMetricsReplicas: e.g. in the minute before metrics-server has
// the new pods' metrics) is history: its ScalingActive condition has been
// True since the event last happened.
func (r *runner) hpaMetricsHistory(e EventGroup) bool {
	if !strings.HasPrefix(e.Reason, "FailedGet") && e.Reason != "FailedComputeMetricsReplicas" {
		return false
	}
	for _, h := range r.s.HPAs {
		if h.Name != e.Name {
			continue
		}
		for _, c := range h.Status.Conditions {
			if c.Type == autoscalingv2.ScalingActive {
				return c.Status == corev1.ConditionTrue && e.Last.Before(c.LastTransitionTime.Add(time.Second))
			}
		}
	}
	return false
}

// reasonFailedScheduling is the scheduler's event when it cannot place a pod.
const reasonFailedScheduling = "FailedScheduling"

// strayNotFound is a trailing "not found" that the scheduler appends with
// nothing before it (e.g. "... PersistentVolumeClaims. preemption: not found").
var strayNotFound = regexp.MustCompile(`(?i)([.:;]\s*(preemption:\s*)?)not found\.?\s*$`)

// eventMessage is an event's message without a stray trailing "not found".
func eventMessage(m string) string {
	m = strings.TrimSpace(m)
	if loc := strayNotFound.FindStringSubmatchIndex(m); loc != nil {
		m = strings.TrimSpace(m[:loc[0]+1])
	}
	return m
}
