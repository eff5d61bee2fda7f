package cli

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/piyasa/kubectl-piyasa/shared/rbac"
)

// needsOptions is a command whose Run needs "patch deployments.apps".
type needsOptions struct {
	*Global
	ran bool
}

func (o *needsOptions) Complete(*cobra.Command, []string) error { return o.Global.Complete() }
func (o *needsOptions) Validate() error                         { return nil }
func (o *needsOptions) Run(context.Context) error               { o.ran = true; return nil }
func (o *needsOptions) NeededRights(context.Context) (*rbac.Needs, error) {
	return &rbac.Needs{Command: "scale api|frontend N", Role: rbac.Operator, Rights: rbac.R("apps", []string{"deployments"}, "patch")}, nil
}

func authzAllowing(allowed bool) *fake.Clientset {
	cs := fake.NewClientset()
	cs.PrependReactor("create", "selfsubjectrulesreviews", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, &authorizationv1.SelfSubjectRulesReview{}, nil
	})
	cs.PrependReactor("create", "selfsubjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		r := a.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview)
		r.Status.Allowed = allowed
		return true, r, nil
	})
	return cs
}

// RunE checks a RightsNeeder's rights between Validate and Run: a missing
// right is exit 3 naming it and the namespace, and Run never starts.
func TestRunEChecksRightsBeforeRun(t *testing.T) {
	for _, allowed := range []bool{true, false} {
		streams, _, _, _ := genericiooptions.NewTestIOStreams()
		g := NewGlobal(streams)
		ns := "team-a"
		g.ConfigFlags.Namespace = &ns
		g.Authz = authzAllowing(allowed).AuthorizationV1()
		o := &needsOptions{Global: g}
		err := RunE(o)(&cobra.Command{}, nil)
		if allowed {
			if err != nil || !o.ran {
				t.Errorf("allowed: err=%v ran=%v", err, o.ran)
			}
			continue
		}
		var e *Error
		if !errors.As(err, &e) || e.Code != ExitCluster || o.ran {
			t.Fatalf("denied: err=%v ran=%v", err, o.ran)
		}
		if !strings.Contains(e.Msg, "in namespace team-a: patch deployments.apps") || !strings.Contains(e.Hint, "piyasa-operator") {
			t.Errorf("denied: %s / %s", e.Msg, e.Hint)
		}
	}
}
