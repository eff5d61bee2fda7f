// Command kubectl-piyasa is the `kubectl piyasa` dispatcher: it runs the
// suite's subcommands (kubectl-piyasa-<name>) installed beside it or on PATH.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/piyasa/kubectl-piyasa/shared/dispatch"
)

func main() {
	d := dispatch.New(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	os.Exit(d.Run(os.Args[1:]))
}
