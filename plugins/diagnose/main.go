// Command kubectl-piyasa-diagnose is `kubectl piyasa diagnose`: read-only
// checks of the app's namespace with stable codes, a support bundle and
// the explanation of each code.
package main

import (
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/diagnose"
)

func main() { cli.Main(diagnose.NewCmd) }
