package cli

import (
	"errors"
	"fmt"
	"io/fs"
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
		// a missing --kubeconfig (Global wraps the loader's stat error)
		{&KubeconfigError{Path: "/nonexistent", Err: &fs.PathError{Op: "stat", Path: "/nonexistent", Err: syscall.ENOENT}},
			ExitCluster, "kubeconfig /nonexistent does not exist", "check --kubeconfig and $KUBECONFIG"},
		{fmt.Errorf("load: %w", &KubeconfigError{Path: "/k", Err: &fs.PathError{Op: "open", Path: "/k", Err: syscall.EACCES}}),
			ExitCluster, "kubeconfig /k: permission denied", "--kubeconfig"},
		// any other missing file is not the kubeconfig's fault
		{&fs.PathError{Op: "open", Path: "/x/.env", Err: syscall.ENOENT}, ExitFailed, "open /x/.env: no such file or directory", ""},
		// clientcmd's errors for --context, --cluster and --user that the kubeconfig lacks
		{errors.New(`context "nope" does not exist`), ExitCluster, `the kubeconfig has no context "nope"`, "kubectl config get-contexts"},
		{errors.New(`context was not found for specified context: nope`), ExitCluster, `the kubeconfig has no context "nope"`, "--context"},
		{fmt.Errorf("invalid configuration: %w", errors.New(`cluster "c1" does not exist`)), ExitCluster, `the kubeconfig has no cluster "c1"`, "--cluster"},
		{errors.New(`auth info "bob" does not exist`), ExitCluster, `the kubeconfig has no user "bob"`, "--user"},
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

// A refused right is exit 3 with the right named, also when it comes as text
// (an exec whose upgrade was refused) or inside a command's own failure.
func TestClassifyForbiddenText(t *testing.T) {
	execRefused := errors.New(`unable to upgrade streaming request: pods "dev-api-1" is forbidden: User "system:serviceaccount:ns1:viewer" cannot get resource "pods/exec" in API group "" in the namespace "ns1"`)
	nodes := errors.New(`nodes is forbidden: User "bob" cannot list resource "nodes" in API group "" at the cluster scope`)
	for _, c := range []struct {
		err  error
		msg  string
		hint string
	}{
		{execRefused, "unable to upgrade streaming request", "missing RBAC right: get pods/exec in namespace ns1 (check: kubectl auth can-i get pods --subresource exec -n ns1)"},
		{Failedf("`python -m alembic current` in pod dev-api-1 failed: %v", execRefused), "`python -m alembic current` in pod dev-api-1 failed: ",
			"missing RBAC right: get pods/exec in namespace ns1"},
		{fmt.Errorf("list: %w", nodes), "nodes is forbidden", "missing RBAC right: list nodes (cluster-wide) (check: kubectl auth can-i list nodes)"},
	} {
		e := Classify(c.err, "")
		if e.Code != ExitCluster || !strings.Contains(e.Msg, c.msg) || e.Hint != c.hint && !strings.HasPrefix(e.Hint, c.hint) {
			t.Errorf("Classify(%v) = %d %q %q", c.err, e.Code, e.Msg, e.Hint)
		}
	}
	// a failure that only mentions the word stays a failure
	if e := Classify(Failedf("the file is forbidden territory"), ""); e.Code != ExitFailed {
		t.Errorf("exit %d", e.Code)
	}
}
