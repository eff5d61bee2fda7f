package scale

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// `scale status -o json` through NewCmd on the fake seam: every component
// entry has component, kind and workload (as in deploy status), no "name",
// and the worker's problems are app.WorkerSharding's (here an HPA on the
// workers: its fix deletes the HPA, and no fix offers the refused scale worker).
func TestStatusDocumentGolden(t *testing.T) {
	tt := clitest.New("", fixture(2, apiHPA("dev-api-hpa", 1, 10), workerHPA())...)
	// metrics.k8s.io is not reachable here: the document says why.
	unreachable := "http://127.0.0.1:1"
	tt.ConfigFlags.APIServer = &unreachable
	code := run(tt, "status", "-o", "json")
	stdout, stderr := tt.Output()
	if code != cli.ExitFailed || stderr != "" {
		t.Fatalf("exit %d (want 1: problems), stderr %q", code, stderr)
	}
	var doc struct {
		Components []map[string]any `json:"components"`
		Problems   []string         `json:"problems"`
	}
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatal(err)
	}
	want := [][3]string{{"api", "Deployment", "dev-api"}, {"worker", "StatefulSet", "dev-worker"}, {"frontend", "Deployment", "dev-frontend"}}
	for i, c := range doc.Components {
		if _, ok := c["name"]; ok {
			t.Errorf("component %d has the ambiguous name field: %v", i, c)
		}
		if got := [3]string{c["component"].(string), c["kind"].(string), c["workload"].(string)}; got != want[i] {
			t.Errorf("component %d: %v, want %v", i, got, want[i])
		}
	}
	if len(doc.Problems) != 2 || doc.Problems[0] != "HPA dev-worker-hpa scales StatefulSet dev-worker while TOTAL_WORKERS is fixed at 2: shards have no owner or two whenever it scales; fix: kubectl delete hpa dev-worker-hpa -n ns1; then kubectl piyasa scale worker N -n ns1" {
		t.Errorf("problems %q", doc.Problems)
	}
	golden := filepath.Join("testdata", "status.golden.json")
	if *update {
		if err := os.WriteFile(golden, []byte(stdout), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	g, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(g, []byte(stdout)) {
		t.Errorf("document differs from %s (run go test ./shared/scale -run TestStatusDocumentGolden -update and review the diff):\n%s", golden, stdout)
	}
}
