package cli

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestClassify(t *testing.T) {
	forbidden := apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "statefulsets"}, "dev-worker",
		errors.New(`User "bob" cannot patch resource "statefulsets" in API group "apps" in the namespace "ns1"`))
	refused := &url.Error{Op: "Get", URL: "https://127.0.0.1:1/version", Err: &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}}
	cases := []struct {
		err  error
		code int
		msg  string
		hint string
	}{
		{Usagef("bad %s", "input"), ExitUsage, "bad input", ""},
		{forbidden, ExitCluster, "forbidden", "missing RBAC right: patch statefulsets.apps in namespace ns1"},
		{apierrors.NewUnauthorized("x"), ExitCluster, "unauthorized", "--kubeconfig"},
		{refused, ExitCluster, "cannot reach the cluster at https://127.0.0.1:1 (connection refused)", ""},
		{fmt.Errorf("wrapped: %w", errors.New("boom")), ExitFailed, "wrapped: boom", ""},
	}
	for _, c := range cases {
		e := Classify(c.err, "https://127.0.0.1:1")
		if e.Code != c.code || !strings.Contains(e.Msg, c.msg) || !strings.Contains(e.Hint, c.hint) {
			t.Errorf("Classify(%v) = %d %q %q", c.err, e.Code, e.Msg, e.Hint)
		}
		if strings.Contains(e.Msg, "\n") || strings.Contains(e.Hint, "\n") {
			t.Errorf("multi-line: %q %q", e.Msg, e.Hint)
		}
	}
}
