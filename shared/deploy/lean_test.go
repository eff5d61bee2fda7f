package deploy

import (
	"os/exec"
	"strings"
	"testing"
)

// kubectl-piyasa-deploy runs kubectl-piyasa-migrate for --migrate instead of
// linking the migration and backup code: those bring minio-go and
// klauspost/compress (zstd), which would put it over the suite's size budget
// (scripts/bench-size.sh).
func TestDeployLinksNoMigrationOrBackupCode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go is not on PATH")
	}
	out, err := exec.Command(goBin, "list", "-deps", "../../plugins/deploy").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	for _, dep := range deps {
		switch {
		case dep == "github.com/piyasa/kubectl-piyasa/shared/migrate", dep == "github.com/piyasa/kubectl-piyasa/shared/backup",
			strings.HasPrefix(dep, "github.com/minio/"), strings.HasPrefix(dep, "github.com/klauspost/"):
			t.Errorf("kubectl-piyasa-deploy links %s", dep)
		}
	}
	for _, want := range []string{"github.com/piyasa/kubectl-piyasa/shared/deploy", "github.com/piyasa/kubectl-piyasa/shared/backup/backupflags"} {
		if !strings.Contains("\n"+string(out), "\n"+want+"\n") {
			t.Errorf("go list -deps lacks %s: the test looks at the wrong package", want)
		}
	}
}
