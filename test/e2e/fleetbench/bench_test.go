//go:build bench

// fleetbench_test measures the fan-out of issue 22 ("Performance"):
// `deploy status` and `diagnose` across a fleet of 2 and of 8 local clusters
// (their own API servers, one kwok node each) against the same command on the
// slowest single cluster, and the client's peak RSS as the fleet grows. A
// benchmark, not a test: it asserts nothing about time. Run it with
// scripts/bench-fleet.sh (build tag `bench`, never part of `make test`).
package fleetbench_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// clusters are the contexts of the package's clusters: BENCH_CLUSTERS (8).
func clusters() []string {
	n, err := strconv.Atoi(os.Getenv("BENCH_CLUSTERS"))
	if err != nil || n < 2 {
		n = 8
	}
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("region-%d", i+1)
	}
	return out
}

func TestMain(m *testing.M) { harness.Main(m, harness.WithClusters(clusters()...)) }

// measure is one timed run: wall time and the client's peak RSS.
type measure struct {
	wall time.Duration
	rss  int64 // KiB
	code int
}

// timed runs the plugin binary dir/name with args, KUBECONFIG the harness's.
func timed(t *testing.T, bin string, args ...string) measure {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+harness.Env.Kubeconfig)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	m := measure{wall: time.Since(start)}
	if cmd.ProcessState == nil {
		t.Fatalf("%s %v: %v", bin, args, err)
	}
	m.code = cmd.ProcessState.ExitCode()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.rss = ru.Maxrss
	}
	if m.code > 1 { // 1: diagnose's findings
		t.Fatalf("%s %v: exit %d\n%s", bin, args, m.code, out.String())
	}
	return m
}

// median of runs of one command.
func median(t *testing.T, runs int, bin string, args ...string) measure {
	ms := make([]measure, runs)
	for i := range ms {
		ms[i] = timed(t, bin, args...)
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].wall < ms[j].wall })
	m := ms[runs/2]
	for _, x := range ms {
		m.rss = max(m.rss, x.rss)
	}
	return m
}

func TestBenchFleet(t *testing.T) {
	bindir := os.Getenv("BENCH_BIN")
	if bindir == "" {
		t.Fatal("BENCH_BIN: the directory of the release-built plugins (scripts/bench-fleet.sh sets it)")
	}
	runs, _ := strconv.Atoi(os.Getenv("BENCH_RUNS"))
	if runs < 1 {
		runs = 5
	}
	ctxs := clusters()
	ns := "piyasa-bench"
	env := harness.InitEnv(t, filepath.Join(t.TempDir(), ".env"))
	var wg sync.WaitGroup
	for _, c := range ctxs {
		harness.ClusterOf(t, c).CreateNamespace(t, ns)
		wg.Add(1)
		go func() {
			defer wg.Done()
			harness.Piyasa(t, "deploy", "--env", "dev", "-n", ns, "--env-file", env, "--context", c, "--timeout", "10m").RunOK()
		}()
	}
	wg.Wait()

	var table strings.Builder
	table.WriteString("| command | clusters | median wall | slowest single cluster | ratio | peak RSS (client) |\n|---|---|---|---|---|---|\n")
	for _, c := range []struct{ bin, what string }{
		{"kubectl-piyasa-deploy", "status"},
		{"kubectl-piyasa-diagnose", ""},
	} {
		bin := filepath.Join(bindir, c.bin)
		base := []string{}
		if c.what != "" {
			base = append(base, c.what)
		}
		label := strings.TrimSpace(strings.TrimPrefix(c.bin, "kubectl-piyasa-") + " " + c.what)
		singles := make([]measure, len(ctxs))
		for i, ctx := range ctxs {
			singles[i] = median(t, runs, bin, append(base, "--env", "dev", "-n", ns, "--context", ctx)...)
		}
		sizes := []int{1, 2}
		if len(ctxs) > 2 {
			sizes = append(sizes, len(ctxs))
		}
		for _, n := range sizes {
			var slowest measure
			for _, s := range singles[:n] {
				if s.wall > slowest.wall {
					slowest = s
				}
			}
			m := singles[0]
			if n > 1 {
				m = median(t, runs, bin, append(base, "--env", "dev", "-n", ns, "--contexts", strings.Join(ctxs[:n], ","))...)
			}
			fmt.Fprintf(&table, "| `%s` | %d | %.2f s | %.2f s | %.2fx | %.1f MiB |\n", label, n,
				m.wall.Seconds(), slowest.wall.Seconds(), m.wall.Seconds()/slowest.wall.Seconds(), float64(m.rss)/1024)
		}
	}
	t.Logf("fleet figures:\n%s", table.String())
	if out := os.Getenv("BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(table.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
