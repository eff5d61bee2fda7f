package backup

import (
	"testing"

	"github.com/piyasa/kubectl-piyasa/shared/cli/clitest"
)

// FuzzBackupCommandLine: no command line of kubectl-piyasa-backup panics, hangs or
// exits with a code other than 0-3 (flags, arguments, Complete and Validate
// on fake clients; nothing runs). Seeds: every command, --help and example of
// the tree, and these; the corpus found is kept in testdata/fuzz.
func FuzzBackupCommandLine(f *testing.F) {
	clitest.FuzzCommandLine(f, NewCmd,
		[]string{"create", "--to", "s3://bucket/prefix", "--compress", "zstd", "--s3-endpoint", "http://127.0.0.1:1"},
		[]string{"restore", "backups/piyasa_db-x-20261201T020000Z.sql.zst", "--to-database", "piyasa_db_copy", "--yes"},
		[]string{"prune", "--dir", "b", "--keep-daily", "-1", "--dry-run=client"},
		[]string{"schedule", "--at", "25:61", "--in-cluster"},
		[]string{"list", "--from", "s3://", "-o", "json"},
		[]string{"pull", "../x.sql.gz", "--dir", "."},
	)
}
