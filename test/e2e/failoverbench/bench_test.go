//go:build bench

// failoverbench_test measures `kubectl piyasa failover` (issue 22
// "Performance": its own overhead, everything but waiting for replay and
// rollouts, under 5 s): planned switchovers back and forth between two local
// clusters, and unplanned failovers (the old primary answering, so fenced at
// once) each followed by `failover rejoin`, on the e2efleet pair. The figures
// are the Failover documents' own: seconds, waitSeconds, overheadSeconds. A
// benchmark, not a test: it asserts nothing about time. Run it with
// scripts/bench-failover.sh (never part of `make test`).
package failoverbench_test

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/deploy"
	"github.com/piyasa/kubectl-piyasa/test/e2e/e2efleet"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m, harness.WithClusters(e2efleet.Clusters...)) }

func runs() int {
	n, err := strconv.Atoi(os.Getenv("BENCH_RUNS"))
	if err != nil || n < 1 {
		return 4
	}
	return n
}

// failover runs one failover and returns its document.
func failover(t *testing.T, args ...string) deploy.FailoverReport {
	t.Helper()
	r := harness.Piyasa(t, append([]string{"failover", "-o", "json", "--yes"}, args...)...).WithTimeout(10 * time.Minute).RunOK()
	var doc deploy.FailoverReport
	if err := json.Unmarshal([]byte(r.Stdout), &doc); err != nil {
		t.Fatalf("failover -o json: %v\n%s", err, r.Stdout)
	}
	return doc
}

type series struct {
	name                  string
	total, wait, overhead []float64
}

func (s *series) add(d deploy.FailoverReport) {
	s.total, s.wait, s.overhead = append(s.total, d.Seconds), append(s.wait, d.WaitSeconds), append(s.overhead, d.OverheadSeconds)
}

func median(v []float64) float64 {
	c := append([]float64{}, v...)
	sort.Float64s(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

func maxOf(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = max(m, x)
	}
	return m
}

func TestBenchFailover(t *testing.T) {
	p := e2efleet.Setup(t, "fobench")
	n := runs()
	planned := &series{name: "planned switchover (`--planned`)"}
	unplanned := &series{name: "unplanned failover, old primary fenced at once"}
	var rejoin []float64
	names := [2]string{"us", "eu"}
	for i := 0; i < n; i++ {
		d := failover(t, "--fleet", p.Fleet, "--to", names[i%2], "--planned")
		planned.add(d)
		t.Logf("planned %d to %s: %.1f s, wait %.1f s, overhead %.1f s", i+1, names[i%2], d.Seconds, d.WaitSeconds, d.OverheadSeconds)
	}
	primary, standby := names[(n+1)%2], names[n%2] // after n switchovers
	for i := 0; i < n; i++ {
		d := failover(t, "--fleet", p.Fleet, "--to", standby, "--accept-data-loss", "3600")
		unplanned.add(d)
		t.Logf("unplanned %d to %s: %.1f s, wait %.1f s, overhead %.1f s, RPO %.1f s", i+1, standby, d.Seconds, d.WaitSeconds, d.OverheadSeconds, d.RPO.Seconds)
		start := time.Now()
		harness.Piyasa(t, "failover", "rejoin", "--fleet", p.Fleet, primary, "--yes").WithTimeout(10 * time.Minute).RunOK()
		rejoin = append(rejoin, time.Since(start).Seconds())
		primary, standby = standby, primary
	}
	var b strings.Builder
	fmt.Fprintf(&b, "| failover (%d runs each, 2 local clusters, %d cores) | total median | waiting median | overhead median | overhead max |\n|---|---|---|---|---|\n", n, numCPU())
	for _, s := range []*series{planned, unplanned} {
		fmt.Fprintf(&b, "| %s | %.1f s | %.1f s | %.1f s | %.1f s |\n", s.name, median(s.total), median(s.wait), median(s.overhead), maxOf(s.overhead))
	}
	fmt.Fprintf(&b, "\n`failover rejoin` (fence, clone, stream) median %.1f s, max %.1f s (goal for the overhead: under 5 s)\n", median(rejoin), maxOf(rejoin))
	if out := os.Getenv("BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Log("\n" + b.String())
}

func numCPU() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "processor\t:")
}
