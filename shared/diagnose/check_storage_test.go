package diagnose

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestCheckStorage(t *testing.T) {
	runAreaCases(t, AreaStorage, []areaCase{
		{name: "pending", code: "PIY601", msg: "StorageClass nope does not exist", break_: func(s *Snapshot) {
			s.PVCs[0].Status.Phase = corev1.ClaimPending
			s.PVCs[0].Spec.StorageClassName = &[]string{"nope"}[0]
		}},
		// issue 9 #10: the fix names commands that exist (there is no backup binary)
		{name: "lost", code: "PIY602", fix: "kubectl describe pvc dev-postgres-pvc", break_: func(s *Snapshot) { s.PVCs[0].Status.Phase = corev1.ClaimLost }},
		{name: "no expansion", code: "PIY603", break_: func(s *Snapshot) {
			sc := s.StorageClasses["standard"]
			sc.AllowVolumeExpansion = nil
			s.StorageClasses["standard"] = sc
		}},
	})
}

// TestFixesNameExistingCommands: no fix text names a piyasa command that does
// not ship (backup and migrate ship now: PIY120 names the restore).
func TestFixesNameExistingCommands(t *testing.T) {
	for _, c := range Codes {
		for _, bad := range []string{"piyasa backup create-restore", "piyasa db ", "DESIGN", "trap "} {
			if strings.Contains(c.Fix, bad) || strings.Contains(c.Explain, bad) || strings.Contains(c.Title, bad) {
				t.Errorf("%s mentions %q: %s / %s", c.ID, bad, c.Fix, c.Explain)
			}
		}
	}
}
