package app

// PostgreSQL's client authentication, from the ConfigMap PGHBAConfigMap
// (manifests/base/postgres-hba.yaml) mounted in the postgres pod and named by
// -c hba_file=PGHBAFile.
const (
	// PGHBAConfigMap holds pg_hba.conf (before the environment's name prefix).
	PGHBAConfigMap = "postgres-hba"
	// PGHBAFile is where the postgres pod reads it.
	PGHBAFile = "/etc/postgresql/pg_hba.conf"
)

// PGHBALines are the lines of pg_hba.conf, in order: the image's defaults
// (trust over the socket and loopback, scram-sha-256 for every other host)
// and, before that last line, replication over TCP for the app user with its
// password, which the base backups of the backup CronJob's pod need.
var PGHBALines = []string{
	"local all all trust",
	"host all all 127.0.0.1/32 trust",
	"host all all ::1/128 trust",
	"local replication all trust",
	"host replication all 127.0.0.1/32 trust",
	"host replication all ::1/128 trust",
	"host replication " + DatabaseUser + " all scram-sha-256",
	"host all all all scram-sha-256",
}
