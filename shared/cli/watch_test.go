package cli

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/kube"
)

func TestWaitError(t *testing.T) {
	w := kube.Workload{Component: "api", Kind: "Deployment", Name: "dev-api"}
	cases := []struct {
		name     string
		err      error
		wantHint string
	}{
		{"timeout", &kube.TimeoutError{Timeout: time.Minute}, "kubectl piyasa diagnose -n ns"},
		{"quota", &kube.FailureError{Workload: w, Problem: kube.PodProblem{Reason: kube.ReasonFailedCreate}}, "ResourceQuota/LimitRange of namespace ns"},
		{"deadline", &kube.FailureError{Workload: w, Problem: kube.PodProblem{Reason: kube.ReasonProgressDeadlineExceeded}}, "deploy rollback -n ns"},
		{"crash", &kube.FailureError{Workload: w, Problem: kube.PodProblem{Reason: "CrashLoopBackOff"}}, "the caller's hint"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var e *Error
			if !errors.As(WaitError(c.err, "ns", "the caller's hint"), &e) {
				t.Fatalf("not a cli.Error")
			}
			if e.Code != 1 || !strings.Contains(e.Hint, c.wantHint) {
				t.Errorf("code %d hint %q, want 1 and %q", e.Code, e.Hint, c.wantHint)
			}
			if !Waited(c.err) {
				t.Error("Waited = false")
			}
		})
	}
	if err := WaitError(context.Canceled, "ns", "x"); err != context.Canceled || Waited(err) {
		t.Errorf("an interruption must come back as it is: %v", err)
	}
}
