package backup

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/piyasa/kubectl-piyasa/manifests"
	"github.com/piyasa/kubectl-piyasa/shared/app"
)

// alertRules reads the monitoring add-on's PrometheusRule: alert name to expression.
func alertRules(t *testing.T) map[string]string {
	t.Helper()
	raw, err := manifests.FS.ReadFile(manifests.MonitoringDir + "/prometheusrule.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Kind string
		Spec struct {
			Groups []struct {
				Rules []struct{ Alert, Expr string }
			}
		}
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil || doc.Kind != "PrometheusRule" {
		t.Fatalf("prometheusrule.yaml: kind %q, %v", doc.Kind, err)
	}
	out := map[string]string{}
	for _, g := range doc.Spec.Groups {
		for _, r := range g.Rules {
			out[r.Alert] = r.Expr
		}
	}
	return out
}

// printedMetrics are the metric names `backup status -o prometheus` prints
// for a status where every part is known.
func printedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	now := time.Unix(1786000000, 0).UTC()
	s := &BackupStatus{Namespace: "ns", Time: now,
		Archiver: &ArchiverStatus{LastArchivedTime: &now},
		Archive:  &ArchiveStatus{Volume: &VolumeUsage{SizeBytes: 10, UsedBytes: 5}},
		Target:   &TargetStatus{LastSyncedTime: &now, LastVerifiedRestore: &now, BaseBackup: baseInfo("ns", now)},
		Window:   &RecoveryWindow{From: now, To: now}, Gaps: []WALGap{}}
	var b bytes.Buffer
	if err := writePrometheus(&b, s); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, line := range strings.Split(b.String(), "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[1] == "TYPE" {
			out[f[2]] = true
		}
	}
	return out
}

var metricRE = regexp.MustCompile(`\bpiyasa_[a-z_]+`)

// TestAlertRulesUsePrintedMetrics: every metric the alerts name is one that
// `backup status -o prometheus` prints, and the alerts the issue asks for are
// there with their thresholds.
func TestAlertRulesUsePrintedMetrics(t *testing.T) {
	rules, printed := alertRules(t), printedMetrics(t)
	if len(printed) < 9 {
		t.Fatalf("printed only %v", printed)
	}
	for alert, expr := range rules {
		names := metricRE.FindAllString(expr, -1)
		if len(names) == 0 {
			t.Errorf("%s names no piyasa metric: %s", alert, expr)
		}
		for _, n := range names {
			if !printed[n] {
				t.Errorf("%s uses %s, which backup status does not print", alert, n)
			}
		}
	}
	stalled := fmt.Sprintf("> %d", int(3*app.DefaultArchiveTimeout.Seconds()))
	want := map[string][]string{
		"PiyasaWALArchivingStalled": {"piyasa_wal_last_archived_timestamp_seconds", stalled, "piyasa_postgres_up", "increase(piyasa_wal_archive_failures_total"},
		"PiyasaWALSyncStalled":      {"piyasa_wal_last_synced_timestamp_seconds", "> 900"},
		"PiyasaNoBaseBackup":        {"piyasa_backup_last_base_backup_timestamp_seconds", "> 2 * 86400"},
		"PiyasaNoVerifiedRestore":   {"piyasa_backup_last_verified_restore_timestamp_seconds", "> 8 * 86400"},
		"PiyasaWALGap":              {"piyasa_wal_gaps > 0"},
	}
	for alert, parts := range want {
		expr, ok := rules[alert]
		for _, p := range parts {
			if !ok || !strings.Contains(strings.ReplaceAll(expr, `{namespace="NAMESPACE"}`, ""), p) {
				t.Errorf("%s: want %q in %q", alert, p, expr)
			}
		}
	}
}
