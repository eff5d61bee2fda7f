package dispatch

import "github.com/spf13/pflag"

// flagDef is one flag every subcommand's root has.
type flagDef struct {
	Name, Shorthand string
	// Type is pflag's name of the value type: string, stringArray or bool.
	Type string
}

// sharedFlags are the flags of every subcommand's root: kubectl's standard
// flags (genericclioptions.ConfigFlags), --env, and -o. The dispatcher
// needs to know them to tell the flags given before a subcommand from the
// subcommand, without linking the Kubernetes client libraries that define
// them; TestSharedFlags keeps this list equal to shared/cli's.
var sharedFlags = []flagDef{
	{"as", "", "string"},
	{"as-group", "", "stringArray"},
	{"as-uid", "", "string"},
	{"as-user-extra", "", "stringArray"},
	{"cache-dir", "", "string"},
	{"certificate-authority", "", "string"},
	{"client-certificate", "", "string"},
	{"client-key", "", "string"},
	{"cluster", "", "string"},
	{"context", "", "string"},
	{"disable-compression", "", "bool"},
	{"env", "", "string"},
	{"insecure-skip-tls-verify", "", "bool"},
	{"kubeconfig", "", "string"},
	{"match-server-version", "", "bool"},
	{"namespace", "n", "string"},
	{"no-color", "", "bool"},
	{"password", "", "string"},
	{"profile", "", "string"},
	{"profile-output", "", "string"},
	{"request-timeout", "", "string"},
	{"server", "s", "string"},
	{"tls-server-name", "", "string"},
	{"token", "", "string"},
	{"user", "", "string"},
	{"username", "", "string"},
	{"v", "v", "Level"},
	{"vmodule", "", "moduleSpec"},
	{"warnings-as-errors", "", "bool"},
}

// outputFlag is -o/--output, which the dispatcher's version also takes.
var outputFlag = flagDef{"output", "o", "string"}

// newFlagSet returns a flag set with the shared flags and -o (its value in *output).
func newFlagSet(output *string) *pflag.FlagSet {
	fs := pflag.NewFlagSet("piyasa", pflag.ContinueOnError)
	for _, f := range sharedFlags {
		switch f.Type {
		case "bool":
			fs.BoolP(f.Name, f.Shorthand, false, "")
		case "stringArray":
			fs.StringArrayP(f.Name, f.Shorthand, nil, "")
		default:
			fs.StringP(f.Name, f.Shorthand, "", "")
		}
	}
	fs.StringVarP(output, outputFlag.Name, outputFlag.Shorthand, formatTable, "")
	return fs
}

// setSharedFlags returns the shared flags set in fs as arguments for a subcommand.
func setSharedFlags(fs *pflag.FlagSet) []string {
	var args []string
	for _, f := range sharedFlags {
		fl := fs.Lookup(f.Name)
		if fl == nil || !fl.Changed {
			continue
		}
		if f.Type == "stringArray" {
			vals, _ := fs.GetStringArray(f.Name)
			for _, v := range vals {
				args = append(args, "--"+f.Name+"="+v)
			}
			continue
		}
		args = append(args, "--"+f.Name+"="+fl.Value.String())
	}
	return args
}
