// Command kubectl_complete-piyasa is the completion helper kubectl (1.26+)
// runs for `kubectl piyasa ...`: it relays the request to kubectl-piyasa.
package main

import (
	"os"

	"github.com/piyasa/kubectl-piyasa/shared/completion/relay"
)

func main() {
	os.Exit(relay.Run(os.Args[0], os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
