package migrate_test

import (
	"context"
	"io"
	"sort"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/migrate"
	"github.com/piyasa/kubectl-piyasa/test/harness"
)

// BenchmarkMigrateOverhead measures what the command adds to a migration on
// the local cluster, per run of migrate.Up (what `kubectl piyasa migrate`
// runs): from its start to the Job created (API reads, pg_isready in the
// postgres pod, the Lease, the Job), and from the pod's first log line (its
// CRI timestamp, written by the harness kubelet as the process prints it) to
// that line printed locally. The first run migrates to head, the next ones
// are no-op upgrades that still log. Run it:
//
//	go test ./test/e2e/migrate/ -run '^$' -bench MigrateOverhead -benchtime 15x
func BenchmarkMigrateOverhead(b *testing.B) {
	a := setup(b, "alembic")
	var created, firstLog []time.Duration
	for b.Loop() {
		g := cli.NewGlobal(genericiooptions.IOStreams{In: nil, Out: io.Discard, ErrOut: io.Discard})
		kc, ns := harness.Env.Kubeconfig, a.ns
		g.ConfigFlags.KubeConfig, g.ConfigFlags.Namespace = &kc, &ns
		r, err := migrate.Up(context.Background(), g, migrate.Options{Timeout: time.Minute})
		if err != nil {
			b.Fatalf("migrate: %v", err)
		}
		created = append(created, r.JobCreatedAfter)
		if r.FirstLogLatency >= 0 {
			firstLog = append(firstLog, r.FirstLogLatency)
		}
	}
	report(b, "job-created", created)
	report(b, "first-log", firstLog)
}

func report(b *testing.B, name string, ds []time.Duration) {
	if len(ds) == 0 {
		b.Errorf("%s: no measurement", name)
		return
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	median := ds[len(ds)/2]
	if len(ds)%2 == 0 {
		median = (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2
	}
	b.ReportMetric(float64(median.Microseconds())/1000, name+"-ms-median")
	b.ReportMetric(float64(ds[len(ds)-1].Microseconds())/1000, name+"-ms-max")
	b.Logf("%s: %d runs, median %s, min %s, max %s", name, len(ds), median, ds[0], ds[len(ds)-1])
}
