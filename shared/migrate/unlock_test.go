package migrate

import (
	"context"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

const unlockNS = "piyasa-chatbot-dev"

// lease returns the dev migration Lease held by who for op, renewed renewedAgo before the test clock, naming job.
func lease(who, op, job string, renewedAgo time.Duration) *coordinationv1.Lease {
	t := metav1.NewMicroTime(clitest.Fixed.Add(-renewedAgo))
	since := metav1.NewMicroTime(clitest.Fixed.Add(-time.Hour))
	dur := int32(30)
	return &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "dev-piyasa-migrate", Namespace: unlockNS,
			Annotations: map[string]string{app.LockOperationAnnotation: op, app.MigrationJobAnnotation: job}},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &who, AcquireTime: &since, RenewTime: &t, LeaseDurationSeconds: &dur},
	}
}

func job(name string, state batchv1.JobConditionType) *batchv1.Job {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: unlockNS}}
	if state != "" {
		j.Status.Conditions = []batchv1.JobCondition{{Type: state, Status: "True"}}
	}
	return j
}

func runUnlock(t *testing.T, stdin string, args []string, objs ...runtime.Object) (*clitest.T, error) {
	t.Helper()
	tt := clitest.New(unlockNS, objs...)
	tt.In.WriteString(stdin)
	cmd := NewCmdUnlock(tt.Global)
	cmd.SetArgs(args)
	cmd.SetOut(tt.Stdout)
	cmd.SetErr(tt.Stderr)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	return tt, cmd.ExecuteContext(context.Background())
}

func leaseLeft(t *testing.T, tt *clitest.T) bool {
	_, err := tt.Fake.CoordinationV1().Leases(unlockNS).Get(context.Background(), "dev-piyasa-migrate", metav1.GetOptions{})
	return err == nil
}

// TestUnlockRefusesALiveHolder: a Lease whose Job runs (its holder gone) or
// whose holder renews it is not released, also with --yes: exit 1 naming the
// operation, and a hint that does not hide what --force breaks.
func TestUnlockRefusesALiveHolder(t *testing.T) {
	cases := map[string][]runtime.Object{
		"job running":     {lease("a@h (pid 1)", "migrate up head", "dev-db-migrate-1", time.Hour), job("dev-db-migrate-1", "")},
		"holder renewing": {lease("a@h (pid 1)", "restore b.sql.zst", "", time.Second)},
	}
	for name, objs := range cases {
		t.Run(name, func(t *testing.T) {
			tt, err := runUnlock(t, "", []string{"--yes"}, objs...)
			e := cli.Classify(err, "")
			if err == nil || e.Code != cli.ExitFailed || !leaseLeft(t, tt) {
				t.Fatalf("unlock --yes of a live holder: %v, lease left %v", err, leaseLeft(t, tt))
			}
			op := objs[0].(*coordinationv1.Lease).Annotations[app.LockOperationAnnotation]
			if !strings.Contains(e.Msg, op) || !strings.Contains(e.Msg, "a@h (pid 1)") || !strings.Contains(e.Hint, "--force") || !strings.Contains(e.Hint, "at the same time") {
				t.Errorf("refusal: %s / %s", e.Msg, e.Hint)
			}
		})
	}
}

// TestUnlockForce: --force releases a live holder's lock after the
// confirmation, saying what can break; unconfirmed it is exit 2.
func TestUnlockForce(t *testing.T) {
	objs := []runtime.Object{lease("a@h (pid 1)", "migrate up head", "dev-db-migrate-1", time.Hour), job("dev-db-migrate-1", "")}
	tt, err := runUnlock(t, "no\n", []string{"--force"}, objs...)
	if e := cli.Classify(err, ""); err == nil || e.Code != cli.ExitUsage || !leaseLeft(t, tt) {
		t.Fatalf("unconfirmed --force: %v", err)
	}
	tt, err = runUnlock(t, unlockNS+"\n", []string{"--force"}, objs...)
	if err != nil || leaseLeft(t, tt) {
		t.Fatalf("--force: %v\n%s", err, tt.Stderr)
	}
	if s := tt.Stderr.String(); !strings.Contains(s, "migrate up head by a@h (pid 1)") || !strings.Contains(s, "half-applied migration") {
		t.Errorf("stderr:\n%s", s)
	}
}

// TestUnlockExpired: a Lease whose holder is gone and whose Job ended is
// released after confirmation (exit 2 when not confirmed, nothing released).
func TestUnlockExpired(t *testing.T) {
	objs := []runtime.Object{lease("a@h (pid 1)", "migrate down 0001", "dev-db-migrate-1", time.Hour), job("dev-db-migrate-1", batchv1.JobComplete)}
	tt, err := runUnlock(t, "wrong\n", nil, objs...)
	if e := cli.Classify(err, ""); err == nil || e.Code != cli.ExitUsage || !leaseLeft(t, tt) {
		t.Fatalf("not confirmed: %v", err)
	}
	tt, err = runUnlock(t, unlockNS+"\n", nil, objs...)
	if err != nil || leaseLeft(t, tt) || !strings.Contains(tt.Stderr.String(), "migrate down 0001 by a@h (pid 1)") || !strings.Contains(tt.Stderr.String(), "expired") {
		t.Fatalf("unlock of an expired lease: %v\n%s", err, tt.Stderr)
	}
	tt, err = runUnlock(t, "", []string{"--yes"})
	if err != nil || !strings.Contains(tt.Stderr.String(), "nothing to do") {
		t.Errorf("no lease: %v %s", err, tt.Stderr)
	}
}
