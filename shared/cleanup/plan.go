package cleanup

import (
	"fmt"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// keepNewest is how many of the newest finished Jobs of each type are kept
// whatever their age.
var keepNewest = map[string]int{TypeMigration: app.KeepFinishedMigrationJobs, TypeBackup: 1}

// planCleanup decides, for each of the suite's Jobs and the app's failed
// pods, whether it goes: finished longer ago than olderThan, and not one of
// the newest finished Jobs of its type (keepNewest), not running, not a kept
// Job's pod.
func planCleanup(env app.Environment, jobs []batchv1.Job, pods []corev1.Pod, now time.Time, olderThan time.Duration) []Item {
	var items []Item
	newest := map[string]int{}
	// Newest first, so that the first finished Job of each type is the newest.
	sort.SliceStable(jobs, func(i, j int) bool {
		a, b := jobFinished(&jobs[i]), jobFinished(&jobs[j])
		switch {
		case a != nil && b != nil && !a.Equal(*b):
			return a.After(*b)
		case (a == nil) != (b == nil):
			return a == nil // running ones first
		}
		return jobs[j].CreationTimestamp.Before(&jobs[i].CreationTimestamp)
	})
	for i := range jobs {
		j := &jobs[i]
		typ := suiteJobType(env, j)
		if typ == "" {
			continue
		}
		it := Item{Kind: "Job", Name: j.Name, Type: typ, State: jobStateOf(j), uid: j.UID, Action: "keep"}
		fin := jobFinished(j)
		if fin != nil {
			t := fin.UTC()
			it.Finished = &t
		}
		switch {
		case fin == nil:
			it.Reason = "running"
		case newest[typ] < keepNewest[typ]:
			newest[typ]++
			it.Reason = "newest finished " + typ + " Job"
			if keepNewest[typ] > 1 {
				it.Reason = fmt.Sprintf("one of the newest %d finished %s Jobs", keepNewest[typ], typ)
			}
		case now.Sub(*fin) < olderThan:
			it.Reason = "finished less than " + ageText(olderThan) + " ago"
		default:
			it.Action, it.Reason = "delete", "finished more than "+ageText(olderThan)+" ago"
		}
		items = append(items, it)
	}
	sort.SliceStable(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	for i := range pods {
		p := &pods[i]
		if p.Status.Phase != corev1.PodFailed || p.Labels[app.PartOfLabel] != app.PartOfValue {
			continue
		}
		if ref := metav1.GetControllerOf(p); ref != nil && ref.Kind == "Job" {
			// A Job's pods go with it; a kept Job keeps its failed attempts' logs.
			continue
		}
		fin := podFailedAt(p)
		t := fin.UTC()
		it := Item{Kind: "Pod", Name: p.Name, Type: TypeFailedPod, State: string(p.Status.Phase), Finished: &t, uid: p.UID, Action: "keep"}
		if p.Status.Reason != "" {
			it.State += " (" + p.Status.Reason + ")"
		}
		if now.Sub(fin) < olderThan {
			it.Reason = "failed less than " + ageText(olderThan) + " ago"
		} else {
			it.Action, it.Reason = "delete", "failed more than "+ageText(olderThan)+" ago"
		}
		items = append(items, it)
	}
	return items
}

// suiteJobType tells which of the suite's Jobs j is ("" when none): a
// migration Job (label piyasa.io/migration=true) or a Job of the backup
// CronJob (its owner, or the CronJob's pod label app=piyasa-backup).
func suiteJobType(env app.Environment, j *batchv1.Job) string {
	if j.Labels[app.MigrationLabel] == "true" {
		return TypeMigration
	}
	if ref := metav1.GetControllerOf(j); ref != nil && ref.Kind == "CronJob" && ref.Name == env.ObjectName(app.BackupCronJob) {
		return TypeBackup
	}
	if j.Spec.Template.Labels["app"] == app.BackupAppLabel {
		return TypeBackup
	}
	return ""
}

// jobFinished is when a Job completed or failed (nil: still running).
func jobFinished(j *batchv1.Job) *time.Time {
	if j.Status.CompletionTime != nil {
		t := j.Status.CompletionTime.Time
		return &t
	}
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			t := c.LastTransitionTime.Time
			if t.IsZero() {
				t = j.CreationTimestamp.Time
			}
			return &t
		}
	}
	return nil
}

func jobStateOf(j *batchv1.Job) string {
	for _, c := range j.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return "Complete"
		case batchv1.JobFailed:
			return "Failed"
		}
	}
	if j.Status.CompletionTime != nil {
		return "Complete"
	}
	return "Running"
}

// podFailedAt is when a failed pod stopped: its containers' last finish,
// else its Ready condition's change, else its start or creation.
func podFailedAt(p *corev1.Pod) time.Time {
	var t time.Time
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if term := cs.State.Terminated; term != nil && term.FinishedAt.After(t) {
			t = term.FinishedAt.Time
		}
	}
	if !t.IsZero() {
		return t
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && !c.LastTransitionTime.IsZero() {
			return c.LastTransitionTime.Time
		}
	}
	if p.Status.StartTime != nil {
		return p.Status.StartTime.Time
	}
	return p.CreationTimestamp.Time
}

// ageText prints a duration as --older-than takes it (7d, 12h, 30m).
func ageText(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%dd", d/(24*time.Hour))
	case d >= time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%dh", d/time.Hour)
	}
	return d.String()
}
