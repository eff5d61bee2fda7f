package deploy

import (
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

func renderedCronJob() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "batch/v1", "kind": "CronJob", "metadata": map[string]any{"name": "dev-db-backup"},
		"spec": map[string]any{"schedule": "0 2 * * *", "jobTemplate": map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{
			"containers": []any{map[string]any{"name": "backup", "env": []any{
				map[string]any{"name": "KEEP_DAILY", "value": "7"}, map[string]any{"name": "KEEP_WEEKLY", "value": "4"}}}}}}}}},
	}}
}

func liveCronJob(annotation, schedule string, env ...corev1.EnvVar) *batchv1.CronJob {
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "dev-db-backup"}, Spec: batchv1.CronJobSpec{Schedule: schedule}}
	if annotation != "" {
		cj.Annotations = map[string]string{app.ScheduleSetAnnotation: annotation}
	}
	cj.Spec.JobTemplate.Spec.Template.Spec.Containers = []corev1.Container{{Name: "backup", Env: env}}
	return cj
}

// TestKeepSchedule: a redeploy keeps what `backup schedule set` changed (the
// fields its annotation lists) and says so; a CronJob changed otherwise
// gets the manifests' values back.
func TestKeepSchedule(t *testing.T) {
	u := renderedCronJob()
	note, err := keepScheduleOf(u, liveCronJob("schedule,KEEP_DAILY", "0 * * * *",
		corev1.EnvVar{Name: "KEEP_DAILY", Value: "5"}, corev1.EnvVar{Name: "KEEP_WEEKLY", Value: "9"}))
	if err != nil {
		t.Fatal(err)
	}
	sched, _, _ := unstructured.NestedString(u.Object, "spec", "schedule")
	ctrs, _, _ := unstructured.NestedSlice(u.Object, "spec", "jobTemplate", "spec", "template", "spec", "containers")
	env := ctrs[0].(map[string]any)["env"].([]any)
	if sched != "0 * * * *" || env[0].(map[string]any)["value"] != "5" || env[1].(map[string]any)["value"] != "4" ||
		u.GetAnnotations()[app.ScheduleSetAnnotation] != "schedule,KEEP_DAILY" {
		t.Errorf("rendered: schedule %q env %v annotations %v", sched, env, u.GetAnnotations())
	}
	want := `keeping the backup schedule 0 * * * *, KEEP_DAILY=5 set with backup schedule set (the manifests say 0 2 * * *, KEEP_DAILY=7; back to them: kubectl piyasa backup schedule set --cron "0 2 * * *" --keep-daily 7)`
	if note != want {
		t.Errorf("note\n%s\nwant\n%s", note, want)
	}
	// Not set with backup schedule set (kubectl edit): the manifests win.
	u = renderedCronJob()
	if note, _ := keepScheduleOf(u, liveCronJob("", "0 * * * *")); note != "" {
		t.Errorf("note %q", note)
	}
	if sched, _, _ := unstructured.NestedString(u.Object, "spec", "schedule"); sched != "0 2 * * *" {
		t.Errorf("schedule %q", sched)
	}
}
