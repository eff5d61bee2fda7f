package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/recovery"
)

func runningPostgres() *corev1.Pod {
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "dev-postgres-0", Namespace: devNS, Labels: map[string]string{"app": "postgres"}},
		Spec:   corev1.PodSpec{Containers: []corev1.Container{{Name: "postgres"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning}}
}

// TestStatusRecoveryLine: deploy status says in one line what the WAL
// archive holds (the chain read by shared/recovery), and an archive it
// cannot list is "unknown", never a failure of the status.
func TestStatusRecoveryLine(t *testing.T) {
	mod := clitest.New(devNS).Global.Now().Add(-2 * time.Minute).Unix()
	listing := func(nos ...int) string {
		var b strings.Builder
		for _, n := range nos {
			fmt.Fprintf(&b, "16777216 %d 0000000100000000%08X\n", mod, n)
		}
		return b.String() + recovery.ListEnd + "\n"
	}
	cases := []struct {
		name, out string
		err       error
		want      string
		gaps      int
	}{
		{"whole", listing(2, 3, 4), nil, "recovery: WAL 000000010000000000000002 to 000000010000000000000004 (3 files), last archived 2m", 0},
		{"gap", listing(2, 5), nil, "1 gap: missing WAL from 000000010000000000000003", 1},
		{"exec fails", "", errors.New("container not found"), "recovery: unknown: cannot list the WAL archive ($WAL_ARCHIVE_DIR) in pod dev-postgres-0: container not found", -1},
		{"cut short", "16777216 1 000000010000000000000002\n", nil, "recovery: unknown: cannot list the WAL archive", -1},
	}
	for _, c := range cases {
		tt := clitest.New(devNS, append(liveApp(imgV1), runtime.Object(runningPostgres()))...)
		o := NewStatusOptions(tt.Global)
		var ran []string
		o.Exec = func(_ context.Context, pod, container string, cmd []string, stdout io.Writer) error {
			if strings.Join(cmd, " ") != strings.Join(recovery.ListCommand(), " ") {
				return errors.New("not the listing") // the replication exec (status_replication_test.go)
			}
			ran = append(ran, pod+"/"+container)
			io.WriteString(stdout, c.out)
			return c.err
		}
		if err := runStatus(o); err != nil && code(err) != 1 {
			t.Fatalf("%s: %v", c.name, err)
		}
		_, stderr := tt.Output()
		if !strings.Contains(stderr, c.want) || len(ran) != 1 || ran[0] != "dev-postgres-0/postgres" {
			t.Errorf("%s: ran %v, stderr:\n%s", c.name, ran, stderr)
		}
		tt = clitest.New(devNS, append(liveApp(imgV1), runtime.Object(runningPostgres()))...)
		o = NewStatusOptions(tt.Global)
		o.Exec = func(_ context.Context, _, _ string, _ []string, stdout io.Writer) error {
			io.WriteString(stdout, c.out)
			return c.err
		}
		o.Print.Output = "json"
		_ = runStatus(o)
		stdout, _ := tt.Output()
		var st Status
		if err := json.Unmarshal([]byte(stdout), &st); err != nil || st.Recovery == nil {
			t.Fatalf("%s: %v\n%s", c.name, err, stdout)
		}
		if got := -1; st.Recovery.Archive != nil {
			got = len(st.Recovery.Archive.Gaps)
			if got != c.gaps {
				t.Errorf("%s: %d gaps in %+v", c.name, got, st.Recovery.Archive)
			}
		} else if c.gaps != -1 {
			t.Errorf("%s: no archive: %s", c.name, st.Recovery.Message)
		}
	}
}

// runStatus completes, validates and runs o.
func runStatus(o *StatusOptions) error {
	if err := o.Complete(nil, nil); err != nil {
		return err
	}
	if err := o.Validate(); err != nil {
		return err
	}
	return o.Run(context.Background())
}
