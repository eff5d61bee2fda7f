package kube

import (
	"os/exec"
	"strings"
	"testing"
)

// goListDeps returns the packages that the main packages pkgs link, one per
// line between newlines, or skips the test when go cannot be run.
func goListDeps(t *testing.T, pkgs ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs go list")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	out, err := exec.Command(goBin, append([]string{"list", "-deps"}, pkgs...)...).Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	return "\n" + string(out)
}

// Libraries that would put the binaries over their size budget
// (scripts/bench-size.sh) for what the suite uses of them: client-go's
// informer factory links the informers of every API group (Informers makes
// the few needed).
func TestBinariesLinkNoHeavyHelpers(t *testing.T) {
	deps := goListDeps(t, "../../plugins/...")
	for _, banned := range []string{"k8s.io/client-go/informers"} {
		if strings.Contains(deps, "\n"+banned+"\n") {
			t.Errorf("a binary links %s", banned)
		}
	}
	if !strings.Contains(deps, "\nk8s.io/client-go/informers/core/v1\n") {
		t.Error("go list -deps lacks k8s.io/client-go/informers/core/v1: the test looks at the wrong packages")
	}
}

// Only the commands that print CPU and memory (diagnose, scale) link the
// metrics.k8s.io clientset (package metricsapi): about 0.2 MiB in each of the
// others.
func TestOnlyDiagnoseAndScaleLinkMetrics(t *testing.T) {
	for _, p := range []string{"backup", "deploy", "migrate"} {
		deps := goListDeps(t, "../../plugins/"+p)
		if !strings.Contains(deps, "\ngithub.com/piyasa/kubectl-piyasa/shared/kube\n") {
			t.Fatalf("go list -deps of plugins/%s lacks shared/kube: the test looks at the wrong packages", p)
		}
		for _, line := range strings.Split(deps, "\n") {
			if strings.HasPrefix(line, "k8s.io/metrics/") || strings.HasSuffix(line, "/shared/kube/metricsapi") {
				t.Errorf("kubectl-piyasa-%s links %s", p, line)
			}
		}
	}
	if !strings.Contains(goListDeps(t, "../../plugins/scale"), "\nk8s.io/metrics/pkg/client/clientset/versioned\n") {
		t.Error("kubectl-piyasa-scale does not link the metrics clientset: the test looks for the wrong package")
	}
}
