package deploy

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clienttesting "k8s.io/client-go/testing"

	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

// TestDeploySaysPostgresRestarts: a deploy that changes the postgres pod
// template (turning WAL archiving on, for one) says plainly that PostgreSQL
// restarts; one that leaves the template as it is says nothing of the kind.
func TestDeploySaysPostgresRestarts(t *testing.T) {
	const line = "deployment/dev-postgres: its pod template changed, so PostgreSQL restarts"
	env := writeEnv(t, t.TempDir(), ".env", "")

	tt := clitest.New(devNS, liveApp(imgV1)...)
	fakeApply(tt, nil) // the live postgres runs busybox without archiving: the rendered template differs
	if err := run(tt, "--env-file", env, "--wait=false"); err != nil {
		t.Fatal(err)
	}
	stdout, _ := tt.Output()
	if strings.Count(stdout, "PostgreSQL restarts") != 1 || !strings.Contains(stdout, line) {
		t.Errorf("want one restart line for postgres:\n%s", stdout)
	}

	// The server returns the live object unchanged: nothing restarts.
	tt = clitest.New(devNS, liveApp(imgV1)...)
	tt.FakeDynamic.PrependReactor("patch", "*", func(a clienttesting.Action) (bool, runtime.Object, error) {
		pa, ok := a.(clienttesting.PatchAction)
		if !ok || pa.GetPatchType() != types.ApplyPatchType {
			return false, nil, nil
		}
		u := &unstructured.Unstructured{}
		if err := u.UnmarshalJSON(pa.GetPatch()); err != nil {
			return true, nil, err
		}
		if live, err := tt.FakeDynamic.Tracker().Get(pa.GetResource(), pa.GetNamespace(), pa.GetName()); err == nil {
			m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(live)
			if err != nil {
				return true, nil, err
			}
			return true, &unstructured.Unstructured{Object: m}, nil
		}
		return true, u, nil
	})
	if err := run(tt, "--env-file", env, "--wait=false"); err != nil {
		t.Fatal(err)
	}
	if stdout, _ := tt.Output(); strings.Contains(stdout, "PostgreSQL restarts") {
		t.Errorf("an unchanged template reported a restart:\n%s", stdout)
	}
}
