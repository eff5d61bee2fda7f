package app

import (
	"fmt"
	"strconv"
	"strings"
)

// ShardingIssue names what breaks the workers' sharding.
type ShardingIssue string

// The ways the workers' sharding breaks.
const (
	// ShardingTotalInvalid: TOTAL_WORKERS is not a whole number.
	ShardingTotalInvalid ShardingIssue = "total-invalid"
	// ShardingTotalMismatch: TOTAL_WORKERS differs from the StatefulSet's replicas.
	ShardingTotalMismatch ShardingIssue = "total-mismatch"
	// ShardingHPA: an HPA scales the workers, which TOTAL_WORKERS cannot follow.
	ShardingHPA ShardingIssue = "hpa"
)

// ShardingProblem is one fault of the workers' sharding, with the fix command.
type ShardingProblem struct {
	Issue   ShardingIssue
	Message string
	// Fix is a command that is accepted in that state.
	Fix string
}

// WorkerSharding is the one rule for the workers: each worker owns shard
// WORKER_ID of TOTAL_WORKERS, so TOTAL_WORKERS (total, from the ConfigMap;
// hasTotal false when unset) must equal the StatefulSet's replicas, and no HPA
// (hpa, "" for none) may scale the StatefulSet. ns is the namespace the fix
// commands name. diagnose (PIY401, PIY402) and scale status report it.
func WorkerSharding(total string, hasTotal bool, statefulSet string, replicas int32, hpa, ns string) []ShardingProblem {
	var out []ShardingProblem
	if hpa != "" {
		out = append(out, ShardingProblem{Issue: ShardingHPA,
			Message: fmt.Sprintf("HPA %s scales StatefulSet %s while TOTAL_WORKERS is fixed at %s: shards have no owner or two whenever it scales", hpa, statefulSet, orUnset(total, hasTotal)),
			Fix:     fmt.Sprintf("kubectl delete hpa %s -n %s; then kubectl piyasa scale worker N -n %s", hpa, ns, ns)})
	}
	if !hasTotal {
		return out
	}
	fix := fmt.Sprintf("kubectl piyasa scale worker %d -n %s (sets TOTAL_WORKERS and the replicas together)", max(replicas, 1), ns)
	if hpa != "" {
		// scale worker is refused while the HPA exists: remove it first
		fix = fmt.Sprintf("kubectl delete hpa %s -n %s; then kubectl piyasa scale worker %d -n %s (sets TOTAL_WORKERS and the replicas together)", hpa, ns, max(replicas, 1), ns)
	}
	n, err := strconv.Atoi(strings.TrimSpace(total))
	switch {
	case err != nil || n < 0:
		out = append(out, ShardingProblem{Issue: ShardingTotalInvalid,
			Message: fmt.Sprintf("TOTAL_WORKERS is %q, not a whole number, while StatefulSet %s has %d replicas", total, statefulSet, replicas),
			Fix:     fix})
	case int32(n) != replicas:
		out = append(out, ShardingProblem{Issue: ShardingTotalMismatch,
			Message: fmt.Sprintf("TOTAL_WORKERS is %q but StatefulSet %s has %d replicas: shards have no owner or two", total, statefulSet, replicas),
			Fix:     fix})
	}
	return out
}

func orUnset(v string, ok bool) string {
	if !ok {
		return "(unset)"
	}
	return v
}
