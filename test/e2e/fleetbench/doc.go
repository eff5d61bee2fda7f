// Package fleetbench holds the fleet fan-out benchmark (bench_test.go, build
// tag bench): scripts/bench-fleet.sh runs it; `make test` finds no test here.
package fleetbench
