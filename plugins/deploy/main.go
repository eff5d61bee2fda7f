// Command kubectl-piyasa-deploy is `kubectl piyasa deploy`: deploy, update,
// roll back and configure the piyasa chat bot (the guide's Procedures 1 and 2).
package main

import (
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/deploy"
)

func main() { cli.Main(deploy.NewCmd) }
