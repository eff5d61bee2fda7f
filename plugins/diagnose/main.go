// Command kubectl-piyasa-diagnose is `kubectl piyasa diagnose`: read-only
// checks of the app's namespace with stable codes, a support bundle and
// the explanation of each code.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/diagnose"
)

func main() {
	root, g := cli.NewRoot("diagnose", genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	diagnose.NewCmdDiagnose(root, g)
	cli.Main(root, g)
}
