package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
	"github.com/piyasa/kubectl-piyasa/shared/recovery"
	"github.com/piyasa/kubectl-piyasa/shared/replication"
)

// TestStatusReplicationLine: deploy status says in one line what the
// database replicates (a standby, or a primary with standbys) and carries
// the same in -o json; a primary alone, or a pod that does not answer, adds
// neither line nor field, and never changes the exit status.
func TestStatusReplicationLine(t *testing.T) {
	now := strconv.FormatInt(clitest.New(devNS).Global.Now().UnixMilli(), 10)
	standby := "node\tstandby\t\t0/5000000\t0/5000000\t\t" + now + "\tfalse\t\n" +
		"receiver\tstreaming\t10.0.0.5\t5432\t0/5000000\t\t\t\t\n"
	primary := "node\tprimary\t0/5003000\t\t\t\t" + now + "\t\t\n"
	withStandby := primary + "sender\tstandby-eu\t10.0.0.6\tstreaming\t0/5003000\t0/5003000\t0/5003000\t0/5000000\t\n"
	cases := []struct {
		name, out string
		err       error
		line      string // "" : no line, no field
		role      string
	}{
		{"standby", standby, nil, "replication: standby of 10.0.0.5, replay lag 0 B / 0s, streaming", replication.RoleStandby},
		{"primary with a standby", withStandby, nil, "replication: primary, 1 standby (standby-eu streaming, lag 12.0 KiB)", replication.RolePrimary},
		{"primary alone", primary, nil, "", ""},
		{"exec fails", "", errors.New("container not found"), "", ""},
		{"unreadable", "psql: error: connection refused\n", nil, "", ""},
	}
	for _, c := range cases {
		for _, format := range []string{"", "json"} {
			tt := clitest.New(devNS, append(liveApp(imgV1), runtime.Object(runningPostgres()))...)
			o := NewStatusOptions(tt.Global)
			o.Print.Output = format
			o.Exec = func(_ context.Context, _, _ string, cmd []string, stdout io.Writer) error {
				if strings.Join(cmd, " ") == strings.Join(recovery.ListCommand(), " ") {
					io.WriteString(stdout, recovery.ListEnd+"\n")
					return nil
				}
				if strings.Join(cmd, " ") != strings.Join(replication.Command(), " ") {
					t.Fatalf("%s: unexpected exec %q", c.name, cmd)
				}
				io.WriteString(stdout, c.out)
				return c.err
			}
			err := runStatus(o)
			if err != nil && code(err) != 1 {
				t.Fatalf("%s: %v", c.name, err)
			}
			stdout, stderr := tt.Output()
			if format == "" {
				if c.line != "" && !strings.Contains(stderr, c.line+"\n") {
					t.Errorf("%s: stderr lacks %q:\n%s", c.name, c.line, stderr)
				}
				if c.line == "" && strings.Contains(stderr, "replication:") {
					t.Errorf("%s: a replication line:\n%s", c.name, stderr)
				}
				continue
			}
			var st Status
			if err := json.Unmarshal([]byte(stdout), &st); err != nil {
				t.Fatalf("%s: %v\n%s", c.name, err, stdout)
			}
			switch {
			case c.role == "" && st.Replication != nil:
				t.Errorf("%s: replication %+v, want none", c.name, st.Replication)
			case c.role != "" && (st.Replication == nil || st.Replication.Role != c.role || "replication: "+st.Replication.Message != c.line):
				t.Errorf("%s: replication %+v", c.name, st.Replication)
			}
			if c.role == "" && strings.Contains(stdout, `"replication"`) {
				t.Errorf("%s: the field is not left out:\n%s", c.name, stdout)
			}
		}
	}
}

// A standby region's api, worker and frontend at 0 are ready; postgres at 0
// is not, and a primary's app at 0 is not.
func TestStandbyAtZero(t *testing.T) {
	mk := func(role string) *Status {
		st := &Status{Replication: &replication.Status{Role: role}}
		for _, c := range []string{app.API, app.Worker, app.Frontend, app.Postgres} {
			st.Components = append(st.Components, ComponentStatus{Component: c, Found: true, Desired: 0, Message: "0 replicas: the app needs at least 1"})
		}
		st.Components[3].Desired, st.Components[3].RolledOut, st.Components[3].Message = 1, true, ""
		return st
	}
	st := mk(replication.RoleStandby)
	standbyAtZero(st)
	if !st.Ready || !strings.Contains(st.Components[0].Message, "standby region") {
		t.Errorf("standby: %+v", st)
	}
	st = mk(replication.RoleStandby)
	st.Components[3].Desired, st.Components[3].RolledOut = 0, false
	standbyAtZero(st)
	if st.Ready {
		t.Error("a standby region with postgres at 0 is ready")
	}
	st = mk(replication.RolePrimary)
	standbyAtZero(st)
	if st.Ready || st.Components[0].RolledOut {
		t.Errorf("primary: %+v", st)
	}
}
