// Package backup_test exercises `kubectl piyasa backup` end to end: a real
// PostgreSQL on loopback, kwok's ClusterExec mapping `kubectl exec` into the
// postgres pod to local pg_dump/psql/sh, and versitygw as the S3 server.
// The point-in-time recovery tests (base backups, WAL) are in test/e2e/pitr,
// on a cluster of their own; the helpers both use are in test/e2e/e2ebackup.
package backup_test

import (
	"testing"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }

func scratchDatabases(t *testing.T, pg *harness.Postgres) string {
	return pg.MustPsql(t, "postgres", "SELECT coalesce(string_agg(datname, ','), '') FROM pg_database WHERE datname LIKE 'piyasa_verify_%'")
}
