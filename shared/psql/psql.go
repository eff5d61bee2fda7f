// Package psql builds the commands that run psql in the postgres container
// through exec (kube.Exec): the one way the suite's commands read
// PostgreSQL's own views (pg_stat_archiver, pg_stat_replication ...). It
// imports nothing of Kubernetes or of the backup code, so that every binary
// may link it.
//
// The password is taken from the container's environment (POSTGRES_PASSWORD,
// which the manifests fill from DATABASE_PASSWORD of the Secret): it never
// appears in a command line, an argument or a message.
package psql

import "github.com/piyasa/kubectl-piyasa/shared/app"

// Env is the shell prologue that exports PGPASSWORD and PGUSER from the
// container's environment (POSIX sh: the image's is busybox ash).
const Env = `export PGPASSWORD="${PGPASSWORD:-${POSTGRES_PASSWORD:-}}"
export PGUSER="${PGUSER:-` + app.DatabaseUser + `}"
`

// Script runs psql with its arguments ("$@") and the password from the environment.
const Script = Env + `exec psql -X -q --no-psqlrc -v ON_ERROR_STOP=1 "$@"`

// Command runs one SQL text in db and prints unaligned, tuples-only rows,
// their fields separated by a tab.
func Command(db, sql string) []string {
	return []string{"sh", "-c", Script, "piyasa-psql", "--dbname=" + db, "-A", "-t", "-F", "\t", "-c", sql}
}
