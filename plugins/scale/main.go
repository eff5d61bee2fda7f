// Command kubectl-piyasa-scale is `kubectl piyasa scale`: scale the app's
// components keeping the workers' TOTAL_WORKERS consistent, tune the HPAs and
// watch scaling.
package main

import (
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/scale"
)

func main() { cli.Main(scale.NewCmd) }
