package app

// KeepFinishedMigrationJobs is how many of the newest finished migration Jobs
// are never deleted by a cleanup, whatever their age: one rule for `deploy
// cleanup` and `migrate jobs --cleanup` (their logs are the last word on the
// schema's recent history).
const KeepFinishedMigrationJobs = 3

// ScheduleSetAnnotation, on the backup CronJob, lists what `backup schedule
// set` changed (comma-separated: schedule, KEEP_DAILY, KEEP_WEEKLY,
// KEEP_MONTHLY): a redeploy keeps the live values of those instead of the
// manifests', as it keeps a suspended schedule.
const ScheduleSetAnnotation = "piyasa.io/schedule-set"

// ScheduleField is the name ScheduleSetAnnotation gives the cron schedule.
const ScheduleField = "schedule"

// The retention variables of the backup CronJob's container.
const (
	EnvKeepDaily   = "KEEP_DAILY"
	EnvKeepWeekly  = "KEEP_WEEKLY"
	EnvKeepMonthly = "KEEP_MONTHLY"
)
