// Package pitr_test exercises point-in-time recovery end to end (issue 21):
// `kubectl piyasa backup create --physical` (pg_basebackup), `backup wal
// sync/status`, `backup restore --to-time/--to-latest`, and the retention
// of base backups and WAL, against a real PostgreSQL archiving its WAL, kwok's
// ClusterExec mapping `kubectl exec` into the postgres pod, and versitygw as
// the S3 server. It has its own cluster, so CI runs it beside test/e2e/backup;
// the helpers both use are in test/e2e/e2ebackup.
package pitr_test

import (
	"testing"

	"github.com/piyasa/kubectl-piyasa/test/harness"
)

func TestMain(m *testing.M) { harness.Main(m) }
