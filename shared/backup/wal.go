package backup

import (
	"github.com/spf13/cobra"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// NewCmdWAL returns `backup wal`, the group of the commands on the WAL
// archive (continuous archiving, the base of point-in-time recovery).
func NewCmdWAL(g *cli.Global) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "wal",
		Short: "Copy the WAL that PostgreSQL archives continuously off the cluster",
		Long: `PostgreSQL archives every finished WAL segment into its WAL archive volume
(archive_command, at least every archive_timeout while anything is written). These
commands work on that archive: sync copies it to a directory or S3, checked; prune
removes from the volume the segments synced off that no newer base backup needs.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(NewCmdWALSync(g), NewCmdWALPrune(g))
	return cmd
}
