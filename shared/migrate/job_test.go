package migrate

import (
	"context"
	"encoding/json"
	"errors"
	"github.com/piyasa/kubectl-piyasa/shared/oplock"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

const digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

const secretValue = "s3cr3t-password-value"

func apiDeployment(ns string) *appsv1.Deployment {
	no := false
	uid := int64(10001)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "dev-api", Namespace: ns},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "piyasa-api", "component": "backend", "piyasa.io/database-client": "true"}},
			Spec: corev1.PodSpec{
				ServiceAccountName:           "dev-piyasa-app",
				AutomountServiceAccountToken: &no,
				SecurityContext:              &corev1.PodSecurityContext{RunAsUser: &uid, RunAsNonRoot: &[]bool{true}[0]},
				Volumes:                      []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}},
				Containers: []corev1.Container{{
					Name: "api", Image: app.APIImage + ":v1.0.0",
					EnvFrom: []corev1.EnvFromSource{
						{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "dev-piyasa-config"}}},
						{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "piyasa-secrets"}}},
					},
					Env:             []corev1.EnvVar{{Name: "DATABASE_URL", Value: "postgresql://$(DATABASE_USER):$(DATABASE_PASSWORD)@$(DATABASE_HOST)/db"}},
					Resources:       corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")}},
					SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &[]bool{true}[0]},
					VolumeMounts:    []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
				}},
			},
		}},
	}
}

func readyPod(ns, name string, labels map[string]string, container, image, imageID string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: container, Image: image}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning,
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: container, Image: image, ImageID: imageID, Ready: true}}},
	}
}

func TestBuildJobCopiesTheAPITemplate(t *testing.T) {
	d := apiDeployment("ns")
	j, err := BuildJob(JobSpec{Name: "dev-db-migrate-x", Namespace: "ns", Template: d.Spec.Template, Image: app.APIImage + "@" + digest,
		Args: []string{"upgrade", "head"}, Direction: "up", Target: "head", Retries: 0, Timeout: 10 * time.Minute, User: "u@h"})
	if err != nil {
		t.Fatal(err)
	}
	api, c := d.Spec.Template.Spec.Containers[0], j.Spec.Template.Spec.Containers[0]
	ps := j.Spec.Template.Spec
	if *j.Spec.BackoffLimit != 0 || *j.Spec.ActiveDeadlineSeconds != 600 || ps.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("job spec: backoff %d deadline %d restart %s", *j.Spec.BackoffLimit, *j.Spec.ActiveDeadlineSeconds, ps.RestartPolicy)
	}
	if strings.Join(c.Command, " ") != "python -m alembic upgrade head" || c.Image != app.APIImage+"@"+digest {
		t.Errorf("command %v image %s", c.Command, c.Image)
	}
	same := func(what string, a, b any) {
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if string(ja) != string(jb) {
			t.Errorf("%s not copied: %s != %s", what, ja, jb)
		}
	}
	same("env", c.Env, api.Env)
	same("envFrom", c.EnvFrom, api.EnvFrom)
	same("resources", c.Resources, api.Resources)
	same("container securityContext", c.SecurityContext, api.SecurityContext)
	same("pod securityContext", ps.SecurityContext, d.Spec.Template.Spec.SecurityContext)
	same("volumes", ps.Volumes, d.Spec.Template.Spec.Volumes)
	if ps.ServiceAccountName != "dev-piyasa-app" || *ps.AutomountServiceAccountToken {
		t.Errorf("service account: %s %v", ps.ServiceAccountName, ps.AutomountServiceAccountToken)
	}
	l := j.Spec.Template.Labels
	if l[app.MigrationLabel] != "true" || l["app"] != "" || l["piyasa.io/database-client"] != "true" {
		t.Errorf("pod labels %v: want the migration label and the database-client label, not the api selector", l)
	}
	if j.Annotations[app.MigrationTargetAnnotation] != "head" || j.Annotations[app.MigrationCommandAnnotation] != "up" {
		t.Errorf("annotations %v", j.Annotations)
	}
}

func TestChooseImage(t *testing.T) {
	ctx := context.Background()
	d := apiDeployment("ns")
	labels := map[string]string{"app": "piyasa-api", "component": "backend"}
	for _, tc := range []struct {
		name, flag, imageID, want string
		pinned                    bool
	}{
		{"digest from docker imageID", "", "docker-pullable://" + app.APIImage + "@" + digest, app.APIImage + "@" + digest, true},
		{"digest from containerd imageID", "", app.APIImage + "@" + digest, app.APIImage + "@" + digest, true},
		{"no digest: by tag with a warning", "", "", app.APIImage + ":v1.0.0", false},
		{"--image TAG", "v2.0.0", "", app.APIImage + ":v2.0.0", false},
		{"--image IMAGE", "registry.local/api:v3", "", "registry.local/api:v3", false},
	} {
		cs := clitest.New("ns", readyPod("ns", "dev-api-1", labels, "api", app.APIImage+":v1.0.0", tc.imageID)).Fake
		got, err := ChooseImage(ctx, cs, "ns", d.Spec.Template.Spec, tc.flag)
		if err != nil || got.Image != tc.want || got.Pinned != tc.pinned || (tc.flag == "" && !tc.pinned && got.Warning == "") {
			t.Errorf("%s: %+v %v, want %s", tc.name, got, err, tc.want)
		}
	}
	cs := clitest.New("ns").Fake
	if _, err := ChooseImage(ctx, cs, "ns", d.Spec.Template.Spec, ""); err == nil || !strings.Contains(err.Error(), "no ready api pod") {
		t.Errorf("no api pod: %v", err)
	}
}

// fakeExec answers pg_isready and `alembic current` (and records the commands).
type fakeExec struct {
	fail bool
	cmds []string
	// current, heads and history are the outputs of `alembic current`, `alembic heads` and `alembic history`.
	current, heads, history string
}

func (f *fakeExec) Exec(_ context.Context, ns, pod, container string, cmd []string) (string, string, error) {
	f.cmds = append(f.cmds, pod+": "+strings.Join(cmd, " "))
	switch strings.Join(cmd, " ") {
	case "python -m alembic current":
		return f.current, "", nil
	case "python -m alembic history":
		return f.history, "", nil
	case "python -m alembic heads":
		return f.heads, "", nil
	}
	if f.fail {
		return "127.0.0.1:5432 - no response\n", "", errors.New("command terminated with non-zero exit code: exit status 2")
	}
	return "127.0.0.1:5432 - accepting connections\n", "", nil
}

func newApp(t *testing.T) *clitest.T {
	ns := "piyasa-chatbot-dev"
	api := readyPod(ns, "dev-api-1", map[string]string{"app": "piyasa-api", "component": "backend"}, "api", app.APIImage+":v1.0.0", "docker-pullable://"+app.APIImage+"@"+digest)
	pg := readyPod(ns, "dev-postgres-1", map[string]string{"app": "postgres"}, "postgres", app.PostgresImage, "")
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "piyasa-secrets", Namespace: ns}, Data: map[string][]byte{"DATABASE_PASSWORD": []byte(secretValue)}}
	return clitest.New(ns, apiDeployment(ns), api, pg, sec)
}

// completeJobs marks every migration Job Complete (or Failed) as soon as it is created.
func completeJobs(t *testing.T, tt *clitest.T, state batchv1.JobConditionType) {
	go func() {
		for i := 0; i < 200; i++ {
			list, _ := tt.Fake.BatchV1().Jobs(tt.Namespace).List(context.Background(), metav1.ListOptions{})
			for _, j := range list.Items {
				if len(j.Status.Conditions) == 0 {
					// The Job controller's pod, ended, so that the follower has a log to read.
					phase := corev1.PodSucceeded
					if state == batchv1.JobFailed {
						phase = corev1.PodFailed
					}
					pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: j.Name + "-x1", Namespace: j.Namespace,
						Labels: map[string]string{batchv1.JobNameLabel: j.Name}, CreationTimestamp: metav1.Now()},
						Status: corev1.PodStatus{Phase: phase}}
					_, _ = tt.Fake.CoreV1().Pods(j.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
					j.Status.Conditions = []batchv1.JobCondition{{Type: state, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded"}}
					_, _ = tt.Fake.BatchV1().Jobs(tt.Namespace).UpdateStatus(context.Background(), &j, metav1.UpdateOptions{})
					return
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
}

func TestUpCreatesTheJobAndReleasesTheLock(t *testing.T) {
	tt := newApp(t)
	_ = tt.Global.Complete()
	completeJobs(t, tt, batchv1.JobComplete)
	ex := &fakeExec{}
	r, err := Up(context.Background(), tt.Global, Options{Exec: ex, Timeout: time.Minute, Holder: &oplock.Holder{Identity: "me (pid 1)", User: "me"}})
	if err != nil {
		t.Fatalf("Up: %v\n%s", err, tt.Stderr)
	}
	if r.Job != "dev-db-migrate-20261201-030000" || r.State != "Complete" || r.Image != app.APIImage+"@"+digest {
		t.Errorf("result %+v", r)
	}
	if !strings.Contains(strings.Join(ex.cmds, "\n"), "dev-postgres-1: pg_isready") {
		t.Errorf("connection check: %v", ex.cmds)
	}
	if _, err := tt.Fake.CoordinationV1().Leases(tt.Namespace).Get(context.Background(), "dev-piyasa-migrate", metav1.GetOptions{}); err == nil {
		t.Error("lock not released after the migration")
	}
	j, err := tt.Fake.BatchV1().Jobs(tt.Namespace).Get(context.Background(), r.Job, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(j)
	if strings.Contains(string(b), secretValue) || strings.Contains(tt.Stderr.String()+tt.Stdout.String(), secretValue) {
		t.Error("a secret value was copied into the Job or printed")
	}
	// The next run the same second gets a free name.
	completeJobs(t, tt, batchv1.JobComplete)
	r2, err := Up(context.Background(), tt.Global, Options{Exec: ex, Timeout: time.Minute})
	if err != nil || r2.Job != r.Job+"-2" {
		t.Errorf("second run: %v %+v", err, r2)
	}
}

func TestUpFailsWhenLockedOrDatabaseDown(t *testing.T) {
	tt := newApp(t)
	_ = tt.Global.Complete()
	who := "alice@ops (pid 7)"
	since := metav1.NewMicroTime(clitest.Fixed.Add(-time.Minute))
	renew := metav1.NewMicroTime(clitest.Fixed.Add(-time.Second))
	_, _ = tt.Fake.CoordinationV1().Leases(tt.Namespace).Create(context.Background(), &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "dev-piyasa-migrate", Annotations: map[string]string{app.MigrationJobAnnotation: "dev-db-migrate-old"}},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &who, AcquireTime: &since, RenewTime: &renew},
	}, metav1.CreateOptions{})
	_, err := Up(context.Background(), tt.Global, Options{Exec: &fakeExec{}, Timeout: time.Minute})
	e := cli.Classify(err, "")
	if e.Code != cli.ExitFailed || !strings.Contains(e.Msg, who) || !strings.Contains(e.Msg, "dev-db-migrate-old") || !strings.Contains(e.Msg, "2026-12-01T02:59:00Z") {
		t.Errorf("locked: %d %q", e.Code, e.Msg)
	}
	_ = tt.Fake.CoordinationV1().Leases(tt.Namespace).Delete(context.Background(), "dev-piyasa-migrate", metav1.DeleteOptions{})
	_, err = Up(context.Background(), tt.Global, Options{Exec: &fakeExec{fail: true}, Timeout: time.Minute})
	if e := cli.Classify(err, ""); e.Code != cli.ExitFailed || !strings.Contains(e.Msg, "does not accept connections") || !strings.Contains(e.Msg, "no response") {
		t.Errorf("database down: %d %q", e.Code, e.Msg)
	}
	if list, _ := tt.Fake.BatchV1().Jobs(tt.Namespace).List(context.Background(), metav1.ListOptions{}); len(list.Items) != 0 {
		t.Errorf("a Job was created: %d", len(list.Items))
	}
}

func TestUpFailedJobExitsOne(t *testing.T) {
	tt := newApp(t)
	_ = tt.Global.Complete()
	completeJobs(t, tt, batchv1.JobFailed)
	r, err := Up(context.Background(), tt.Global, Options{Exec: &fakeExec{}, Timeout: time.Minute})
	e := cli.Classify(err, "")
	if e.Code != cli.ExitFailed || r == nil || r.State != "Failed" || !strings.Contains(e.Hint, "kept") {
		t.Fatalf("failed Job: %+v %+v", e, r)
	}
	if !strings.Contains(tt.Stderr.String(), "BackoffLimitExceeded") || !strings.Contains(tt.Stderr.String(), "what to do") {
		t.Errorf("failure report:\n%s", tt.Stderr)
	}
}

func TestValidate(t *testing.T) {
	tt := clitest.New("ns")
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"--to", "0003; rm -rf /"}, 2},
		{[]string{"--retries", "-1"}, 2},
		{[]string{"--timeout", "0s"}, 2},
		{[]string{"down"}, 2},
		{[]string{"down", "--to", "head"}, 2},
		{[]string{"jobs", "--older-than", "seven"}, 2},
		{[]string{"status", "-o", "xml"}, 2},
		{[]string{"up", "-o", "xml"}, 2},
		{[]string{"down", "--to", "0001", "-o", "xml"}, 2},
	} {
		tt.Stderr.Reset()
		if code := cli.Execute(NewCmd(tt.Global), tt.Global, tc.args); code != tc.code {
			t.Errorf("%v: exit %d, want %d\n%s", tc.args, code, tc.code, tt.Stderr)
		}
	}
}

// fakeBackup is a backup-first step that records whether the lock was held when it ran.
type fakeBackup struct {
	tt       *clitest.T
	err      error
	underLck bool
}

func (b *fakeBackup) Take(ctx context.Context, _ *cli.Global) (string, error) {
	_, err := b.tt.Fake.CoordinationV1().Leases(b.tt.Namespace).Get(ctx, "dev-piyasa-migrate", metav1.GetOptions{})
	b.underLck = err == nil
	return "/backups/b-20261201-030000.sql.zst", b.err
}

// TestUpBackupFirstStep: the backup first runs under the lock before the
// Job; its location reaches the Job and the Result; its error creates no Job
// and frees the lock.
func TestUpBackupFirstStep(t *testing.T) {
	tt := newApp(t)
	_ = tt.Global.Complete()
	ctx := context.Background()
	b := &fakeBackup{tt: tt, err: errors.New("backup failed")}
	_, err := Up(ctx, tt.Global, Options{Exec: &fakeExec{}, Timeout: time.Minute, BackupFirst: b})
	if err == nil || !strings.Contains(err.Error(), "backup failed") || !b.underLck {
		t.Fatalf("backup error: %v (under the lock: %v)", err, b.underLck)
	}
	if list, _ := tt.Fake.BatchV1().Jobs(tt.Namespace).List(ctx, metav1.ListOptions{}); len(list.Items) != 0 {
		t.Fatal("a Job was created after the backup failed")
	}
	if _, err := tt.Fake.CoordinationV1().Leases(tt.Namespace).Get(ctx, "dev-piyasa-migrate", metav1.GetOptions{}); err == nil {
		t.Fatal("the lock was kept after the backup failed")
	}
	completeJobs(t, tt, batchv1.JobComplete)
	b.err = nil
	r, err := Up(ctx, tt.Global, Options{Exec: &fakeExec{}, Timeout: time.Minute, BackupFirst: b})
	if err != nil {
		t.Fatal(err)
	}
	j, _ := tt.Fake.BatchV1().Jobs(tt.Namespace).Get(ctx, r.Job, metav1.GetOptions{})
	if j.Annotations[app.MigrationBackupAnnotation] != "/backups/b-20261201-030000.sql.zst" || r.Backup != "/backups/b-20261201-030000.sql.zst" {
		t.Errorf("Job annotations: %v, result backup %q", j.Annotations, r.Backup)
	}
}

// TestUpPodCannotStart: a migration pod stuck in ImagePullBackOff never ran:
// exit 1 at once naming the problem, the Job deleted, the lock released.
func TestUpPodCannotStart(t *testing.T) {
	tt := newApp(t)
	_ = tt.Global.Complete()
	ctx := context.Background()
	go func() {
		for i := 0; i < 200; i++ {
			list, _ := tt.Fake.BatchV1().Jobs(tt.Namespace).List(ctx, metav1.ListOptions{})
			if len(list.Items) == 1 {
				_, _ = tt.Fake.CoreV1().Pods(tt.Namespace).Create(ctx, &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: list.Items[0].Name + "-abcde", Labels: map[string]string{batchv1.JobNameLabel: list.Items[0].Name}},
					Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: app.MigrationContainer,
						State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "api:nope"`}}}}},
				}, metav1.CreateOptions{})
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	}()
	done := make(chan struct{})
	var err error
	go func() { _, err = Up(ctx, tt.Global, Options{Exec: &fakeExec{}, Timeout: time.Minute}); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Up waited for a pod that cannot start")
	}
	e := cli.Classify(err, "")
	if e.Code != cli.ExitFailed || !strings.Contains(e.Msg, "ImagePullBackOff") || !strings.Contains(e.Hint, "nothing was migrated") {
		t.Fatalf("pod cannot start: %+v", e)
	}
	if list, _ := tt.Fake.BatchV1().Jobs(tt.Namespace).List(ctx, metav1.ListOptions{}); len(list.Items) != 0 {
		t.Error("the Job was kept")
	}
	if _, err := tt.Fake.CoordinationV1().Leases(tt.Namespace).Get(ctx, "dev-piyasa-migrate", metav1.GetOptions{}); err == nil {
		t.Error("the lock was kept")
	}
}
