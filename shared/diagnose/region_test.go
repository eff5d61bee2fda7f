package diagnose

import (
	"strings"
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/replication"
)

// TestFleetFindings: workers in two regions (PIY990), two writable
// databases (PIY991, only with --probe), TOTAL_WORKERS differing (PIY992);
// a standby at 0 workers, a region whose run failed and --skip say nothing.
func TestFleetFindings(t *testing.T) {
	primary := &Region{WorkersDesired: 4, WorkersRunning: 4, TotalWorkers: "4", Database: replication.RolePrimary}
	standby := &Region{TotalWorkers: "0", Database: replication.RoleStandby}
	probe := Config{Probe: true}
	codes := func(regions []RegionOf, cfg Config) map[string]string {
		out := map[string]string{}
		for _, f := range FleetFindings(regions, cfg) {
			out[f.Code] = f.Message + " " + strings.Join(f.Regions, ",")
		}
		return out
	}
	if got := codes([]RegionOf{{"eu", "primary", primary}, {"us", "standby", standby}, {"ap", "standby", nil}}, probe); len(got) != 0 {
		t.Fatalf("a healthy fleet: %v", got)
	}
	twin := *primary
	twin.TotalWorkers = "6"
	got := codes([]RegionOf{{"eu", "primary", primary}, {"us", "standby", &twin}}, probe)
	if !strings.Contains(got["PIY990"], "eu (4 running of 4), us (4 running of 4)") || !strings.Contains(got["PIY991"], "eu, us are not in recovery") ||
		!strings.Contains(got["PIY992"], "4 in eu; 6 in us") || len(got) != 3 {
		t.Fatalf("a fleet built wrong: %v", got)
	}
	if got := codes([]RegionOf{{"eu", "primary", primary}, {"us", "standby", &twin}}, Config{}); got["PIY991"] != "" || got["PIY990"] == "" {
		t.Fatalf("without --probe the split brain is not read: %v", got)
	}
	skip, err := ParseCodeSet("PIY990")
	if err != nil {
		t.Fatal(err)
	}
	if got := codes([]RegionOf{{"eu", "primary", primary}, {"us", "standby", &twin}}, Config{Probe: true, Skip: skip}); got["PIY990"] != "" || got["PIY992"] == "" {
		t.Fatalf("--skip PIY990: %v", got)
	}
}
