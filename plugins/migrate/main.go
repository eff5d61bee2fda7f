// Command kubectl-piyasa-migrate is `kubectl piyasa migrate`: the app's
// Alembic migrations as a Job that cannot run twice at once.
package main

import (
	"github.com/piyasa/kubectl-piyasa/shared/cli"
	"github.com/piyasa/kubectl-piyasa/shared/migrate"
)

func main() { cli.Main(migrate.NewCmd) }
