package app

// Image repositories of the app. The default tags live in one
// place, manifests/base/kustomization.yaml (images:).
const (
	// APIImage runs the api and, with another command, the workers.
	APIImage      = "ghcr.io/uzaktantakip000-create/piyasa_chat_bot/api"
	FrontendImage = "ghcr.io/uzaktantakip000-create/piyasa_chat_bot/frontend"
	PostgresImage = "postgres:16-alpine"
)

// Database connection keys of piyasa-config. The containers build the
// DATABASE_URL they use from these and DATABASE_PASSWORD of piyasa-secrets,
// so that no password sits in the ConfigMap.
const (
	KeyDatabaseHost = "DATABASE_HOST"
	KeyDatabasePort = "DATABASE_PORT"
	KeyDatabaseName = "DATABASE_NAME"
	KeyDatabaseUser = "DATABASE_USER"
	KeyCORSOrigins  = "CORS_ALLOWED_ORIGINS"
)

// Names of the app's other objects, before the environment's name prefix.
const (
	BackupCronJob = "db-backup"
	// BaseBackupCronJob takes base backups onto the backup volume; `backup
	// schedule set --physical` makes it from BackupCronJob, which owns it.
	BaseBackupCronJob = "db-basebackup"
	BackupPVC         = "backup-pvc"
	ServiceAccount    = "piyasa-app"
	DefaultDenyPolicy = "default-deny"
)
