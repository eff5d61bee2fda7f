// Command kubectl-piyasa is the `kubectl piyasa` dispatcher: it runs the
// suite's subcommands (kubectl-piyasa-<name>) installed beside it or on PATH.
//
// Linked or copied as kubectl_complete-piyasa it is also the completion
// helper kubectl runs for `kubectl piyasa ...` (see `kubectl piyasa completion --help`).
package main

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/piyasa/kubectl-piyasa/shared/completion"
	"github.com/piyasa/kubectl-piyasa/shared/completion/relay"
	"github.com/piyasa/kubectl-piyasa/shared/dispatch"
)

func main() {
	d := dispatch.New(dispatch.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr})
	completion.Register(d)
	args := os.Args[1:]
	if strings.HasPrefix(strings.TrimSuffix(filepath.Base(os.Args[0]), ".exe"), relay.Name) {
		args = relay.Args(os.Args[0], args)
	}
	os.Exit(d.Run(args))
}
