package scale

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// D7: while a restore that did not finish has the workers stopped, scale
// status does not propose scaling them: its fix is the restore's, and the
// count it says is the recorded one.
func TestStatusInterruptedRestore(t *testing.T) {
	now := time.Now()
	zero := int32(0)
	api, _ := app.LookupComponent(app.API)
	worker, _ := app.LookupComponent(app.Worker)
	rec := app.RestoreRecord{Since: now.Add(-time.Hour), Backup: "backups/b.sql.zst", SafetyBackup: "backups/b-pre-restore.sql.zst", Environment: "dev",
		Replicas: map[string]int32{app.API: 1, app.Worker: 4}}
	ann := map[string]string{app.RestoreAnnotation: rec.Marshal()}
	s := snapshot{
		deployments: []*appsv1.Deployment{{ObjectMeta: metav1.ObjectMeta{Name: "dev-api", Annotations: ann},
			Spec: appsv1.DeploymentSpec{Replicas: &zero, Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: api.Labels}}}}},
		statefulsets: []*appsv1.StatefulSet{{ObjectMeta: metav1.ObjectMeta{Name: "dev-worker", Annotations: ann},
			Spec: appsv1.StatefulSetSpec{Replicas: &zero, Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: worker.Labels}}}}},
		configMap: &corev1.ConfigMap{Data: map[string]string{app.KeyTotalWorkers: "4"}},
	}
	st := buildStatus(s, dev, "ns", now)
	probs := strings.Join(st.Problems, "\n")
	if st.RestoreInterrupted == nil || strings.Contains(probs, "scale worker") || !strings.Contains(probs, "which brings back 4") ||
		!strings.Contains(probs, "kubectl piyasa backup restore backups/b.sql.zst -n ns --env dev --yes") {
		t.Errorf("restore %+v\nproblems:\n%s", st.RestoreInterrupted, probs)
	}
}
