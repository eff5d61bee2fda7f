package diagnose

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"
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
// since cleared: its pod is Ready now and has been since the event last happened.
func (r *runner) eventHistory(e EventGroup) bool {
	if e.Kind != "Pod" {
		return false
	}
	for _, p := range r.s.Pods {
		if p.Name == e.Name {
			return p.Ready && p.ReadyFor > 0 && !e.Last.After(r.s.Now.Add(-p.ReadyFor))
		}
	}
	return false
}

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
