// Package suite names the kubectl-piyasa binaries and their subcommands.
package suite

// Plugin is the name of the Krew plugin and of the dispatcher binary's suffix.
const Plugin = "piyasa"

// BinaryPrefix prefixes every binary of the suite.
const BinaryPrefix = "kubectl-piyasa"

// Subcommand is one binary of the suite run as `kubectl piyasa <Name>`.
type Subcommand struct {
	Name  string
	Short string
}

// Subcommands lists the suite's subcommands in display order.
var Subcommands = []Subcommand{
	{Name: "deploy", Short: "Deploy, update, roll back and configure the app (Procedures 1 and 2)"},
	{Name: "scale", Short: "Scale components and tune autoscaling, keeping worker sharding consistent"},
	{Name: "migrate", Short: "Run the database migrations (Alembic) as a Job"},
	{Name: "backup", Short: "Back up and restore the PostgreSQL database"},
	{Name: "diagnose", Short: "Check the app's namespace for known faults and explain the fix"},
}

// Binary returns the executable name of a subcommand, e.g. kubectl-piyasa-deploy.
func Binary(sub string) string { return BinaryPrefix + "-" + sub }

// Lookup returns the subcommand with the given name.
func Lookup(name string) (Subcommand, bool) {
	for _, s := range Subcommands {
		if s.Name == name {
			return s, true
		}
	}
	return Subcommand{}, false
}

// DisplayName is how a subcommand is typed by users.
func DisplayName(sub string) string {
	if sub == "" {
		return "kubectl " + Plugin
	}
	return "kubectl " + Plugin + " " + sub
}
