package diagnose

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// setPod replaces the first pod of a component with one in the given state.
func setPod(s *Snapshot, comp string, status corev1.PodStatus, spec corev1.PodSpec) {
	c, _ := app.LookupComponent(comp)
	for i, p := range s.Pods {
		if p.Component == comp {
			s.Pods[i] = summarizePod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Labels: c.Labels}, Spec: spec, Status: status}, s.Now)
			return
		}
	}
}

func waitingStatus(container, reason, msg string) corev1.PodStatus {
	return corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: container,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}}}
}

func TestCheckPods(t *testing.T) {
	apiSpec := corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "ghcr.io/x/api:v9.9.9"}}}
	runAreaCases(t, AreaPods, []areaCase{
		{name: "crash loop", code: "PIY101", break_: func(s *Snapshot) {
			setPod(s, app.API, corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "api", RestartCount: 3,
				State:                corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: "Error", ExitCode: 1}}}}}, apiSpec)
		}},
		{name: "image pull names the image", code: "PIY107", msg: "ghcr.io/x/api:v9.9.9", fix: "kubectl piyasa deploy rollback -n piyasa-chatbot-dev", break_: func(s *Snapshot) {
			setPod(s, app.API, waitingStatus("api", "ImagePullBackOff", `Back-off pulling image "ghcr.io/x/api:v9.9.9": manifest unknown`), apiSpec)
		}},
		{name: "config error", code: "PIY108", msg: "DB_PASSWORD", break_: func(s *Snapshot) {
			setPod(s, app.API, waitingStatus("api", "CreateContainerConfigError", "couldn't find key DB_PASSWORD in Secret piyasa-secrets"), apiSpec)
		}},
		{name: "replicas short", code: "PIY113", msg: "0 of 1 replicas ready", break_: func(s *Snapshot) { s.Deployments[0].Status.ReadyReplicas = 0 }},
		{name: "missing component", code: "PIY112", msg: "dev-frontend", break_: func(s *Snapshot) { s.Deployments = s.Deployments[:1] }},
		// issue 16 #6: postgres at 0 replicas names the cause, with a fix that works (rollout restart does nothing at 0)
		{name: "postgres at 0 replicas", code: "PIY113", msg: "deployment/dev-postgres has 0 replicas",
			fix: "kubectl scale deployment/dev-postgres --replicas=1 -n piyasa-chatbot-dev", break_: zeroPostgres},
		// issue 16 #9: a quota blocking pods is the error, with its message
		{name: "quota blocks pods", code: "PIY114", msg: "exceeded quota: q", fix: "kubectl describe resourcequota q -n piyasa-chatbot-dev", not: []string{"PIY950"}, break_: quotaBlocksPostgres},
	})
}

func zeroPostgres(s *Snapshot) {
	for i := range s.Deployments {
		if s.Deployments[i].Name == "dev-postgres" {
			zero := int32(0)
			s.Deployments[i].Spec.Replicas = &zero
			s.Deployments[i].Status = appsDeploymentStatusZero()
		}
	}
	kept := s.Pods[:0]
	for _, p := range s.Pods {
		if p.Component != app.Postgres {
			kept = append(kept, p)
		}
	}
	s.Pods = kept
	s.ReadyEndpoints["dev-db-service"] = 0
}

func quotaBlocksPostgres(s *Snapshot) {
	zeroPostgres(s)
	one := int32(1)
	s.Deployments[2].Spec.Replicas = &one
	s.Events = append(s.Events, EventGroup{Kind: "ReplicaSet", Name: "dev-postgres-5f7d8", Reason: "FailedCreate", Count: 12, Last: s.Now.Add(-time.Minute),
		Message: `pods "dev-postgres-5f7d8-x" is forbidden: exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`})
}
