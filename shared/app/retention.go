package app

// KeepFinishedMigrationJobs is how many of the newest finished migration Jobs
// are never deleted by a cleanup, whatever their age: one rule for `deploy
// cleanup` and `migrate jobs --cleanup` (their logs are the last word on the
// schema's recent history).
const KeepFinishedMigrationJobs = 3
