// Package backup is `kubectl piyasa backup`: streamed, checksummed
// PostgreSQL backups of piyasa_db to a file or S3, verified by a real restore
// into a scratch database, and restores that quiesce the app.
package backup

import (
	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// NewCmd returns the root command of kubectl-piyasa-backup.
func NewCmd(g *cli.Global) *cobra.Command {
	cmd := cli.NewRoot("backup", g)
	cmd.Long = `Back up and restore the app's PostgreSQL database (piyasa_db).

A backup is a plain pg_dump streamed out of the postgres pod through the exec API,
compressed and hashed on the way. It counts only when pg_dump's own exit status is 0,
the byte count and sha256 computed inside the pod equal what arrived, and the dump ends
with its completion trailer; otherwise nothing is written. A BackupInfo document
(<backup>.json) is stored beside every backup.`
	cmd.AddCommand(NewCmdCreate(g), NewCmdVerify(g), NewCmdWAL(g), NewCmdStatus(g), NewCmdRestore(g), NewCmdList(g), NewCmdPull(g), NewCmdSchedule(g), NewCmdPrune(g), NewCmdPin(g), NewCmdUnpin(g))
	return cmd
}
