package app

import (
	"strings"
	"testing"
)

func TestWorkerSharding(t *testing.T) {
	cases := []struct {
		name     string
		total    string
		has      bool
		replicas int32
		hpa      string
		want     []ShardingIssue
	}{
		{"consistent", "3", true, 3, "", nil},
		{"unset", "", false, 3, "", nil},
		{"mismatch", "7", true, 3, "", []ShardingIssue{ShardingTotalMismatch}},
		{"invalid", "seven", true, 3, "", []ShardingIssue{ShardingTotalInvalid}},
		{"negative", "-1", true, 3, "", []ShardingIssue{ShardingTotalInvalid}},
		{"hpa", "3", true, 3, "w", []ShardingIssue{ShardingHPA}},
		{"hpa and mismatch", "4", true, 3, "w", []ShardingIssue{ShardingHPA, ShardingTotalMismatch}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := WorkerSharding(c.total, c.has, "dev-worker", c.replicas, c.hpa, "ns")
			if len(got) != len(c.want) {
				t.Fatalf("got %+v, want %v", got, c.want)
			}
			for i := range got {
				if got[i].Issue != c.want[i] || got[i].Message == "" {
					t.Fatalf("got %+v, want %v", got, c.want)
				}
			}
			// scale worker is refused while an HPA exists: every fix removes the HPA first
			for _, p := range got {
				if c.hpa != "" && !strings.HasPrefix(p.Fix, "kubectl delete hpa "+c.hpa+" -n ns;") {
					t.Fatalf("a fix that scale worker would refuse while HPA %s exists: %+v", c.hpa, p)
				}
			}
		})
	}
}
