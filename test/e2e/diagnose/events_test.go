package diagnose_test

import (
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// TestFreshDeployHasNoEventHistory (issue 13 #3): right after a fresh deploy
// the scheduler's FailedScheduling events of postgres and redis ("pod has
// unbound immediate PersistentVolumeClaims", while kwok binds their volumes)
// fall in the very second their pods became Ready. Those pods are scheduled
// and Ready now: diagnose gives no PIY950 about them, and no message ends in
// a stray "not found".
func TestFreshDeployHasNoEventHistory(t *testing.T) {
	ns := harness.Namespace(t, "diag-fresh")
	envFile := deployHealthy(t, ns)
	// The events the defect was about are there (else the test proves nothing).
	ev := harness.Kubectl(t, "get", "events", "-n", ns, "--field-selector", "reason=FailedScheduling", "-o", "name").RunOK()
	if strings.TrimSpace(ev.Stdout) == "" {
		t.Log("no FailedScheduling events in this run: the volumes were bound before the pods were scheduled")
	}
	// a ClaimLost warning about a claim that is Bound (every demo ended with one): history
	cs := harness.Client(t)
	pvcs, err := cs.CoreV1().PersistentVolumeClaims(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil || len(pvcs.Items) == 0 {
		t.Fatalf("no PVC: %v", err)
	}
	pvc := pvcs.Items[0]
	if pvc.Status.Phase != corev1.ClaimBound {
		t.Fatalf("PVC %s is %s, not Bound", pvc.Name, pvc.Status.Phase)
	}
	now := metav1.Now()
	if _, err := cs.CoreV1().Events(ns).Create(context.Background(), &corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: pvc.Name + ".claimlost"},
		InvolvedObject: corev1.ObjectReference{Kind: "PersistentVolumeClaim", Namespace: ns, Name: pvc.Name, UID: pvc.UID},
		Type:           corev1.EventTypeWarning, Reason: "ClaimLost", Message: "Bound claim has lost its PersistentVolume. Data on the volume is lost!",
		Count: 1, FirstTimestamp: now, LastTimestamp: now, Source: corev1.EventSource{Component: "persistentvolume-controller"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rep := report(t, 0, "--env", "dev", "-n", ns, "--env-file", envFile)
	for _, f := range rep.Findings {
		if f.Code == "PIY950" && f.Object.Kind == "PersistentVolumeClaim" {
			t.Errorf("PIY950 %s about a claim that is Bound: %s", f.Object, f.Message)
		}
		if f.Code == "PIY950" && f.Object.Kind == "Pod" {
			t.Errorf("PIY950 %s about a pod that is Ready: %s", f.Object, f.Message)
		}
		if strings.HasSuffix(strings.TrimSpace(f.Message), "not found") {
			t.Errorf("%s %s: message ends in a stray \"not found\": %s", f.Code, f.Object, f.Message)
		}
	}
	// The table says the same: no events warning about the app's pods.
	res := harness.Piyasa(t, "diagnose", "--env", "dev", "-n", ns, "-o", "wide").ExpectCode(0)
	for _, line := range strings.Split(res.Stdout, "\n") {
		if strings.Contains(line, "PIY950") && strings.Contains(line, "pod/") {
			t.Errorf("table: %s", line)
		}
	}
}
