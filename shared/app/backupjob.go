package app

// BackupAppLabel is the app label of the backup CronJob's pod template
// (manifests/base/backup.yaml): the pods of every backup Job, scheduled or
// started by hand (`kubectl piyasa backup schedule run-now`), carry it.
const BackupAppLabel = "piyasa-backup"
