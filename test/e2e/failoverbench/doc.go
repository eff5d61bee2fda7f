// Package failoverbench holds the failover benchmark (build tag bench):
// see scripts/bench-failover.sh.
package failoverbench
