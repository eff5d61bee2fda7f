package app

import "slices"

// A region of a fleet (issue 22): the primary region holds the writable
// database and exposes it to the standby regions through the Service
// ReplicationService, over TLS, for the role ReplicationRole only; a standby
// region's PostgreSQL is a hot standby cloned from it (pg_basebackup -R) and
// streaming from it. The manifests of each role are the components
// manifests/regions/primary and manifests/regions/standby.
const (
	// ReplicationRole is the PostgreSQL role the standbys stream as.
	ReplicationRole = "piyasa_replicator"
	// ReplicationSecret holds the role's password and PostgreSQL's TLS
	// certificate; deploy --fleet makes it once and writes the same keys in
	// every region (like SecretName, it carries no name prefix).
	ReplicationSecret = "piyasa-replication"
	// KeyReplicationPassword is ReplicationRole's password in ReplicationSecret.
	KeyReplicationPassword = "REPLICATION_PASSWORD"
	// KeyTLSCert and KeyTLSKey are PostgreSQL's certificate and key in ReplicationSecret.
	KeyTLSCert = "tls.crt"
	KeyTLSKey  = "tls.key"
	// PGTLSDir is where the postgres pod mounts the certificate and key.
	PGTLSDir = "/etc/postgresql-tls"
	// ReplicationService is the primary region's Service the standbys reach
	// (before the environment's name prefix); its type comes from the fleet.
	ReplicationService = "db-replication"
	// ReplicationPolicy is the NetworkPolicy that lets the replication
	// traffic in (primary) or out (standby) of the postgres pod.
	ReplicationPolicy = "postgres-replication"
	// CloneContainer is the standby's initContainer that clones the primary
	// when the data directory is empty.
	CloneContainer = "clone-primary"
	// EnvPrimaryHost and EnvPrimaryPort name, in CloneContainer, the address
	// of the primary's ReplicationService.
	EnvPrimaryHost = "PRIMARY_HOST"
	EnvPrimaryPort = "PRIMARY_PORT"
	// DefaultReplicationPort is the port of ReplicationService.
	DefaultReplicationPort = 5432
)

// PGHBAReplicationLine lets ReplicationRole stream over TLS with its password;
// the primary region's pg_hba.conf has it before the last line of PGHBALines.
const PGHBAReplicationLine = "hostssl replication " + ReplicationRole + " all scram-sha-256"

// PGHBAPrimaryLines are the lines of a primary region's pg_hba.conf.
func PGHBAPrimaryLines() []string {
	n := len(PGHBALines)
	return slices.Concat(PGHBALines[:n-1], []string{PGHBAReplicationLine}, PGHBALines[n-1:])
}

// The roles of a region's manifests (render.Region.Role).
const (
	RegionPrimary = "primary"
	RegionStandby = "standby"
)
