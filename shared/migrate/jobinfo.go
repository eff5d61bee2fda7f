package migrate

import (
	"context"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/oplock"
)

// JobInfo describes one migration Job.
type JobInfo struct {
	Name      string     `json:"name"`
	Direction string     `json:"direction"`
	Target    string     `json:"target"`
	State     string     `json:"state"`
	Reason    string     `json:"reason,omitempty"`
	Image     string     `json:"image"`
	User      string     `json:"user,omitempty"`
	Backup    string     `json:"backup,omitempty"`
	Created   time.Time  `json:"created"`
	Finished  *time.Time `json:"finished,omitempty"`
	// Duration in seconds, from the Job's start to its end (or now while running).
	DurationSeconds float64 `json:"durationSeconds"`
}

// ListJobs returns the namespace's migration Jobs, newest first.
func ListJobs(ctx context.Context, cs kubernetes.Interface, ns string, now time.Time) ([]JobInfo, []batchv1.Job, error) {
	list, err := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{LabelSelector: app.MigrationLabel + "=true"})
	if err != nil {
		return nil, nil, err
	}
	jobs := list.Items
	sort.SliceStable(jobs, func(i, j int) bool {
		a, b := jobs[i].CreationTimestamp, jobs[j].CreationTimestamp
		if a.Equal(&b) {
			return jobs[i].Name > jobs[j].Name
		}
		return b.Before(&a)
	})
	out := make([]JobInfo, 0, len(jobs))
	for i := range jobs {
		out = append(out, jobInfo(&jobs[i], now))
	}
	return out, jobs, nil
}

func jobInfo(j *batchv1.Job, now time.Time) JobInfo {
	ji := JobInfo{Name: j.Name, Direction: j.Annotations[app.MigrationCommandAnnotation], Target: j.Annotations[app.MigrationTargetAnnotation],
		State: oplock.JobStateOf(j), User: j.Annotations[app.MigrationUserAnnotation], Backup: j.Annotations[app.MigrationBackupAnnotation],
		Created: j.CreationTimestamp.Time}
	if cs := j.Spec.Template.Spec.Containers; len(cs) > 0 {
		ji.Image = cs[0].Image
	}
	var end *time.Time
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == "True" {
			t := c.LastTransitionTime.Time
			end = &t
			ji.Reason = c.Reason
		}
	}
	if j.Status.CompletionTime != nil {
		t := j.Status.CompletionTime.Time
		end = &t
	}
	ji.Finished = end
	startT := j.CreationTimestamp.Time
	if j.Status.StartTime != nil {
		startT = j.Status.StartTime.Time
	}
	stop := now
	if end != nil {
		stop = *end
	}
	if d := stop.Sub(startT); d > 0 {
		ji.DurationSeconds = d.Round(time.Second).Seconds()
	}
	return ji
}
