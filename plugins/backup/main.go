// Command kubectl-piyasa-backup is `kubectl piyasa backup`: streamed,
// checksummed PostgreSQL backups to a file or S3, verified by a real restore,
// and restores that quiesce the app.
package main

import (
	"github.com/piyasa/kubectl-piyasa/shared/backup"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

func main() { cli.Main(backup.NewCmd) }
