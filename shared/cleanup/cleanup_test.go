package cleanup

import (
	"context"
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

const day = 24 * time.Hour

const devNS = "piyasa-chatbot-dev"

// run executes `kubectl piyasa deploy cleanup ARGS` on the fake Global: the
// deploy binary's root with cleanup under it.
func run(tt *clitest.T, args ...string) error {
	root := cli.NewRoot("deploy", tt.Global)
	root.AddCommand(NewCmd(tt.Global))
	root.SetArgs(append([]string{"cleanup"}, args...))
	return root.ExecuteContext(context.Background())
}

// code is the exit code the binary would give for err.
func code(err error) int {
	if err == nil {
		return 0
	}
	return cli.Classify(err, "").Code
}

// has tells whether s holds every one of subs.
func has(s string, subs ...string) bool {
	for _, x := range subs {
		if !strings.Contains(s, x) {
			return false
		}
	}
	return true
}

// cleanupJob is a Job of type typ (migration, backup, other) that finished
// ago before the test clock (ago < 0: still running).
func cleanupJob(ns, name, typ string, ago time.Duration, failed bool) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID("uid-" + name),
		CreationTimestamp: metav1.NewTime(clitest.Fixed.Add(-ago - time.Minute))}}
	switch typ {
	case TypeMigration:
		j.Labels = map[string]string{app.MigrationLabel: "true", app.PartOfLabel: app.PartOfValue}
	case TypeBackup:
		j.Labels = map[string]string{app.PartOfLabel: app.PartOfValue}
		j.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "CronJob", Name: "dev-db-backup", UID: "cj", Controller: new(true)}}
		j.Spec.Template.Labels = map[string]string{"app": app.BackupAppLabel}
	}
	if ago >= 0 {
		cond := batchv1.JobComplete
		if failed {
			cond = batchv1.JobFailed
		} else {
			t := metav1.NewTime(clitest.Fixed.Add(-ago))
			j.Status.CompletionTime = &t
		}
		j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(clitest.Fixed.Add(-ago))}}
	}
	return j
}

func failedPod(ns, name string, ago time.Duration, ownerJob string) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID("uid-" + name),
		Labels: map[string]string{app.PartOfLabel: app.PartOfValue}, CreationTimestamp: metav1.NewTime(clitest.Fixed.Add(-ago - time.Hour))},
		Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted", ContainerStatuses: []corev1.ContainerStatus{{Name: "c",
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: metav1.NewTime(clitest.Fixed.Add(-ago))}}}}}}
	if ownerJob != "" {
		p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: ownerJob, UID: "j", Controller: new(true)}}
	}
	return p
}

func cleanupObjects(ns string) []runtime.Object {
	return []runtime.Object{
		cleanupJob(ns, "dev-db-migrate-old1", TypeMigration, 30*day, false),
		cleanupJob(ns, "dev-db-migrate-old2", TypeMigration, 20*day, true),
		cleanupJob(ns, "dev-db-migrate-newest", TypeMigration, 10*day, false), // the newest 3 finished: kept though old
		cleanupJob(ns, "dev-db-migrate-old3", TypeMigration, 40*day, false),
		cleanupJob(ns, "dev-db-migrate-old4", TypeMigration, 50*day, true),
		cleanupJob(ns, "dev-db-migrate-running", TypeMigration, -1, false),
		cleanupJob(ns, "dev-db-backup-1", TypeBackup, 9*day, false),
		cleanupJob(ns, "dev-db-backup-2", TypeBackup, 2*day, false), // newest backup, young
		cleanupJob(ns, "someone-elses-job", "other", 90*day, false),
		failedPod(ns, "dev-api-evicted", 8*day, ""),
		failedPod(ns, "dev-api-evicted-today", time.Hour, ""),
		failedPod(ns, "dev-db-migrate-old2-xyz", 20*day, "dev-db-migrate-old2"),
		func() runtime.Object { p := failedPod(ns, "not-ours", 50*day, ""); p.Labels = nil; return p }(),
	}
}

func TestPlanCleanup(t *testing.T) {
	var jobs []batchv1.Job
	var pods []corev1.Pod
	for _, o := range cleanupObjects(devNS) {
		switch x := o.(type) {
		case *batchv1.Job:
			jobs = append(jobs, *x)
		case *corev1.Pod:
			pods = append(pods, *x)
		}
	}
	items := planCleanup(app.Environments["dev"], jobs, pods, clitest.Fixed, 7*day)
	got := map[string]string{}
	for _, it := range items {
		got[it.Name] = it.Action + ": " + it.Reason
	}
	want := map[string]string{
		"dev-db-migrate-newest":  "keep: one of the newest 3 finished migration Jobs",
		"dev-db-migrate-old2":    "keep: one of the newest 3 finished migration Jobs",
		"dev-db-migrate-old1":    "keep: one of the newest 3 finished migration Jobs",
		"dev-db-migrate-old3":    "delete: finished more than 7d ago",
		"dev-db-migrate-old4":    "delete: finished more than 7d ago",
		"dev-db-migrate-running": "keep: running",
		"dev-db-backup-1":        "delete: finished more than 7d ago",
		"dev-db-backup-2":        "keep: newest finished backup Job",
		"dev-api-evicted":        "delete: failed more than 7d ago",
		"dev-api-evicted-today":  "keep: failed less than 7d ago",
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: %q, want %q", name, got[name], w)
		}
	}
	for _, name := range []string{"someone-elses-job", "not-ours", "dev-db-migrate-old2-xyz"} {
		if _, ok := got[name]; ok {
			t.Errorf("%s is not cleanup's: %s", name, got[name])
		}
	}
	// A young backup is kept by age, not only the newest.
	jobs = []batchv1.Job{*cleanupJob(devNS, "b1", TypeBackup, 3*day, false), *cleanupJob(devNS, "b2", TypeBackup, 1*day, false)}
	items = planCleanup(app.Environments["dev"], jobs, nil, clitest.Fixed, 7*day)
	if len(items) != 2 || items[0].Name != "b2" || items[1].Reason != "finished less than 7d ago" {
		t.Errorf("young backups: %+v", items)
	}
}

func deletedNames(tt *clitest.T) []string {
	var out []string
	for _, a := range tt.Fake.Actions() {
		if a.GetVerb() == "delete" {
			out = append(out, a.GetResource().Resource+"/"+a.(interface{ GetName() string }).GetName())
		}
	}
	sort.Strings(out)
	return out
}

func TestCleanupRun(t *testing.T) {
	tt := clitest.New(devNS, cleanupObjects(devNS)...)
	if err := run(tt); err != nil {
		t.Fatal(err)
	}
	want := []string{"jobs/dev-db-backup-1", "jobs/dev-db-migrate-old3", "jobs/dev-db-migrate-old4", "pods/dev-api-evicted"}
	if got := deletedNames(tt); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("deleted %v, want %v", got, want)
	}
	stdout, stderr := tt.Output()
	if !has(stdout, "keep", "job.batch/dev-db-migrate-newest", "one of the newest 3 finished migration Jobs", "delete", "pod/dev-api-evicted") ||
		!has(stderr, "job.batch/dev-db-migrate-old3 deleted", "pod/dev-api-evicted deleted") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}

	// --dry-run lists and deletes nothing.
	tt = clitest.New(devNS, cleanupObjects(devNS)...)
	if err := run(tt, "--dry-run"); err != nil {
		t.Fatal(err)
	}
	if got := deletedNames(tt); len(got) != 0 {
		t.Errorf("--dry-run deleted %v", got)
	}
	// The table says what would go; stderr adds one summary, not a line per object.
	stdout, stderr = tt.Output()
	if !has(stdout, "would delete", "job.batch/dev-db-migrate-old3") || strings.Contains(stderr, "deleted (dry run)") ||
		!strings.Contains(stderr, "would delete 4 objects in namespace "+devNS+" (dry run): nothing was deleted") {
		t.Errorf("stdout:\n%s\nstderr:\n%s", stdout, stderr)
	}

	// -o json: the document, with the deleted count.
	tt = clitest.New(devNS, cleanupObjects(devNS)...)
	if err := run(tt, "--older-than", "15d", "-o", "json"); err != nil {
		t.Fatal(err)
	}
	stdout, _ = tt.Output()
	var doc struct {
		Kind    string `json:"kind"`
		Deleted int    `json:"deleted"`
		Items   []struct{ Name, Action string }
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("%v\n%s", err, stdout)
	}
	if doc.Kind != Kind || doc.Deleted != 2 || len(doc.Items) != 10 {
		t.Errorf("document: %+v", doc)
	}

	// Bad --older-than: exit 2, nothing asked of the cluster.
	tt = clitest.New(devNS)
	if err := run(tt, "--older-than", "a week"); code(err) != 2 || len(tt.Fake.Actions()) != 0 {
		t.Errorf("--older-than 'a week': %v", err)
	}
}

// In prod, cleanup asks for the namespace name (or --yes).
func TestCleanupProdConfirms(t *testing.T) {
	ns := app.Environments["prod"].Namespace
	tt := clitest.New(ns, cleanupObjects(ns)...)
	tt.In.WriteString("piyasa-chatbot-dev\n")
	if err := run(tt); code(err) != 2 {
		t.Fatalf("wrong confirmation: %v", err)
	}
	if got := deletedNames(tt); len(got) != 0 {
		t.Errorf("deleted without confirmation: %v", got)
	}
	tt = clitest.New(ns, cleanupObjects(ns)...)
	tt.In.WriteString(ns + "\n")
	if err := run(tt); err != nil {
		t.Fatal(err)
	}
	// prod's backup CronJob is prod-db-backup: the fixtures' Jobs name
	// dev-db-backup as owner, but their pod label still makes them backups.
	if got := deletedNames(tt); len(got) != 4 {
		t.Errorf("deleted %v", got)
	}
	tt = clitest.New(ns, cleanupObjects(ns)...)
	if err := run(tt, "--yes"); err != nil || len(deletedNames(tt)) != 4 {
		t.Errorf("--yes: %v %v", err, deletedNames(tt))
	}
}
