// Command kubectl-piyasa-deploy is `kubectl piyasa deploy`: deploy, update,
// roll back and configure the piyasa chat bot (the guide's Procedures 1 and 2).
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/deploy"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	root, g := cli.NewRoot("deploy", streams)
	deploy.NewCmdDeploy(root, g, streams)
	cli.Main(root, g)
}
