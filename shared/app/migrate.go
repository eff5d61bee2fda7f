package app

// Facts of the database migrations (`kubectl piyasa migrate`).
const (
	// MigrationLabel marks the migration Jobs and their pods (value "true").
	MigrationLabel = "piyasa.io/migration"
	// MigrationComponent is the app.kubernetes.io/component of the migration Jobs.
	MigrationComponent = "db-migrate"
	// MigrationJobBase names the migration Jobs: <prefix>db-migrate-<UTC time>.
	MigrationJobBase = "db-migrate"
	// MigrationContainer names the Job's one container.
	MigrationContainer = "migrate"
	// MigrationLeaseBase names the coordination.k8s.io Lease that allows one
	// migration at a time per namespace (before the environment prefix).
	MigrationLeaseBase = "piyasa-migrate"
	// Annotations of the migration Jobs and of the Lease.
	MigrationTargetAnnotation  = "piyasa.io/migrate-target"   // the revision asked for: head or a revision
	MigrationCommandAnnotation = "piyasa.io/migrate-command"  // up or down
	MigrationUserAnnotation    = "piyasa.io/migrate-user"     // who started it (user@host)
	MigrationJobAnnotation     = "piyasa.io/migrate-job"      // on the Lease: the Job it guards
	MigrationBackupAnnotation  = "piyasa.io/migrate-backup"   // the backup taken first (when there was one)
	MigrationSinceAnnotation   = "piyasa.io/migrate-since"    // on the Lease: when the holder took it (RFC 3339)
	MigrationImageAnnotation   = "piyasa.io/migrate-image-of" // where the image came from (api pod or --image)
	// LockOperationAnnotation, on the Lease, names the operation that holds it
	// (the Lease is the lock of every operation that changes the database).
	LockOperationAnnotation = "piyasa.io/lock-operation"
)

// MigrationJobName returns the Job name for a start time stamp ("20261201-030000").
func (e Environment) MigrationJobName(stamp string) string {
	return e.Prefix + MigrationJobBase + "-" + stamp
}

// MigrationLease returns the name of the migration Lease in this environment.
func (e Environment) MigrationLease() string { return e.Prefix + MigrationLeaseBase }
