package kube

import (
	"os/exec"
	"strings"
	"testing"
)

// Libraries that would put the binaries over their size budget
// (scripts/bench-size.sh) for what the suite uses of them: client-go's
// informer factory links the informers of every API group (Informers makes
// the few needed).
func TestBinariesLinkNoHeavyHelpers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", "../../plugins/...").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := "\n" + string(out)
	for _, banned := range []string{"k8s.io/client-go/informers"} {
		if strings.Contains(deps, "\n"+banned+"\n") {
			t.Errorf("a binary links %s", banned)
		}
	}
	if !strings.Contains(deps, "\nk8s.io/client-go/informers/core/v1\n") {
		t.Error("go list -deps lacks k8s.io/client-go/informers/core/v1: the test looks at the wrong packages")
	}
}
