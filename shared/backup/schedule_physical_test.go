package backup

import (
	"context"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

func dumpCronJob(ns string) *batchv1.CronJob {
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "dev-db-backup", Namespace: ns, UID: "cj-uid",
		Labels: map[string]string{"app": "piyasa-backup"}, Annotations: map[string]string{app.ScheduleSetAnnotation: "schedule"}},
		Spec: batchv1.CronJobSpec{Schedule: "0 2 * * *"}}
	cj.Spec.JobTemplate.Spec.Template.Spec.Containers = []corev1.Container{{Name: "backup", Image: app.PostgresImage,
		Command: []string{"/bin/sh", "-c", "pg_dump"},
		Env: []corev1.EnvVar{{Name: EnvKeepDaily, Value: "7"}, {Name: "PGHOST", Value: "dev-db-service"},
			{Name: "PGPASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{Key: "DATABASE_PASSWORD"}}}},
		VolumeMounts: []corev1.VolumeMount{{Name: "backup-storage", MountPath: "/backups"}}}}
	return cj
}

func runSched(t *testing.T, tt *clitest.T, args ...string) (string, error) {
	t.Helper()
	cmd := NewCmdSchedule(tt.Global)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(context.Background())
	out, _ := tt.Output()
	return out, err
}

// TestScheduleSetPhysical: --physical makes the base backup CronJob from the
// backup CronJob's pod (its env, volumes), running the base backup script,
// owned by it; a second set keeps what it is not given; show reports it;
// --physical=false deletes it; the backup CronJob is left as it was.
func TestScheduleSetPhysical(t *testing.T) {
	ns := "piyasa-chatbot-dev"
	tt := clitest.New(ns, dumpCronJob(ns))
	if out, err := runSched(t, tt, "set", "--physical", "--physical-cron", "15 4 * * 0"); err != nil || !strings.Contains(out, "cronjob dev-db-basebackup created") {
		t.Fatalf("set --physical: %v\n%s", err, out)
	}
	if out, err := runSched(t, tt, "set", "--physical", "--keep-base", "3"); err != nil || !strings.Contains(out, "updated") {
		t.Fatalf("set --physical --keep-base: %v\n%s", err, out)
	}
	get := func(name string) *batchv1.CronJob {
		cj, err := tt.Fake.BatchV1().CronJobs(ns).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return cj
	}
	p := get("dev-db-basebackup")
	c := p.Spec.JobTemplate.Spec.Template.Spec.Containers[0]
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	switch {
	case p.Spec.Schedule != "15 4 * * 0":
		t.Errorf("schedule %q: the first set's was not kept", p.Spec.Schedule)
	case len(c.Command) != 3 || c.Command[2] != BaseBackupCronScript:
		t.Errorf("command %q", c.Command)
	case env[EnvKeepBase].Value != "3" || env["PGHOST"].Value != "dev-db-service" || env["PGPASSWORD"].ValueFrom == nil:
		t.Errorf("env %+v", c.Env)
	case env[EnvKeepDaily].Name != "":
		t.Errorf("the dumps' retention was copied: %+v", c.Env)
	case len(c.VolumeMounts) != 1 || c.VolumeMounts[0].MountPath != "/backups":
		t.Errorf("mounts %+v", c.VolumeMounts)
	case len(p.OwnerReferences) != 1 || p.OwnerReferences[0].UID != "cj-uid" || p.Annotations[app.ScheduleSetAnnotation] != "":
		t.Errorf("owner %+v annotations %v", p.OwnerReferences, p.Annotations)
	}
	if d := get("dev-db-backup"); d.Spec.Schedule != "0 2 * * *" || d.Spec.JobTemplate.Spec.Template.Spec.Containers[0].Command[2] != "pg_dump" {
		t.Errorf("the backup CronJob changed: %+v", d.Spec)
	}
	out, err := runSched(t, tt, "show")
	if err != nil || !strings.Contains(out, `base backups: cronjob dev-db-basebackup "15 4 * * 0" (active), the newest 3 kept, last success never`) {
		t.Errorf("show: %v\n%s", err, out)
	}
	if out, err := runSched(t, tt, "set", "--physical=false"); err != nil || !strings.Contains(out, "deleted") {
		t.Fatalf("set --physical=false: %v\n%s", err, out)
	}
	if l, _ := tt.Fake.BatchV1().CronJobs(ns).List(context.Background(), metav1.ListOptions{}); len(l.Items) != 1 {
		t.Errorf("after --physical=false: %d CronJobs", len(l.Items))
	}
}

// TestScheduleSetPhysicalRefused: the physical flags are checked before anything changes.
func TestScheduleSetPhysicalRefused(t *testing.T) {
	ns := "piyasa-chatbot-dev"
	for _, args := range [][]string{
		{"set", "--physical-cron", "0 3 * * *"},
		{"set", "--physical=false", "--keep-base", "2"},
		{"set", "--physical", "--physical-cron", "61 * * * *"},
		{"set", "--physical", "--keep-base", "0"},
	} {
		tt := clitest.New(ns, dumpCronJob(ns))
		_, err := runSched(t, tt, args...)
		if err == nil || !strings.Contains(err.Error(), "physical") && !strings.Contains(err.Error(), "keep-base") {
			t.Errorf("%v: %v", args, err)
		}
		if l, _ := tt.Fake.BatchV1().CronJobs(ns).List(context.Background(), metav1.ListOptions{}); len(l.Items) != 1 {
			t.Errorf("%v made a CronJob", args)
		}
	}
}
