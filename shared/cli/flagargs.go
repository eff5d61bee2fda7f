package cli

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// FlagArgs returns the flags of fs that were given on the command line and
// that keep accepts, as arguments for another binary of the suite:
// --name=value, one per value of a list flag (--as-group=a --as-group=b).
func FlagArgs(fs *pflag.FlagSet, keep func(name string) bool) []string {
	var args []string
	fs.VisitAll(func(f *pflag.Flag) {
		if !f.Changed || !keep(f.Name) {
			return
		}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			for _, v := range sv.GetSlice() {
				args = append(args, "--"+f.Name+"="+v)
			}
			return
		}
		args = append(args, "--"+f.Name+"="+f.Value.String())
	})
	return args
}

// GlobalFlagArgs returns the shared flags given to cmd (Global.AddFlags, the
// persistent flags of the binary's root: kubectl's global flags, --env,
// --no-color) as arguments for another binary of the suite that cmd runs,
// except the names in skip and --profile/--profile-output (the child would
// overwrite the parent's profile file).
func GlobalFlagArgs(cmd *cobra.Command, skip ...string) []string {
	return FlagArgs(cmd.Root().PersistentFlags(), func(name string) bool {
		if name == "profile" || name == "profile-output" {
			return false
		}
		for _, s := range skip {
			if name == s {
				return false
			}
		}
		return true
	})
}
