// Command kubectl-piyasa-scale is `kubectl piyasa scale`: scale the app's
// components keeping the workers' TOTAL_WORKERS consistent, tune the HPAs and
// watch scaling.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/scale"
)

func main() {
	root, g := cli.NewRoot("scale", genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	scale.SetupRoot(root, g)
	cli.Main(root, g)
}
