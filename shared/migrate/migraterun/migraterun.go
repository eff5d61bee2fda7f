// Package migraterun is the document of one migration run, which `migrate
// up|down -o json|yaml` prints and `deploy update --migrate` reads from the
// kubectl-piyasa-migrate it runs. It links nothing of the migration code.
package migraterun

import "time"

// Kind is the kind of the document.
const Kind = "MigrationRun"

// StateUpToDate is the State of a run that found the database at its
// target already: no Job was created (Job is "") and no backup taken.
const StateUpToDate = "UpToDate"

// Result is what one migration run did.
type Result struct {
	Namespace string `json:"namespace"`
	Job       string `json:"job"`
	Direction string `json:"direction"`
	Target    string `json:"target"`
	// From is the database's revision before the run, read under the lock
	// (several comma-separated, "base" when none was applied); "" when it
	// could not be read.
	From  string `json:"from,omitempty"`
	Image string `json:"image"`
	// Backup is the location of the backup taken first ("" when none was).
	Backup string `json:"backup,omitempty"`
	// State is Complete, Failed, Interrupted, Cancelled or UpToDate ("" before a Job ran).
	State string   `json:"state"`
	Pods  []string `json:"pods,omitempty"`
	// Tail holds the last log lines.
	Tail []string `json:"tail,omitempty"`
	// Duration is from the start to the end of the run.
	Duration        time.Duration `json:"-"`
	DurationSeconds float64       `json:"durationSeconds"`
	// JobCreatedAfter is the time from the start of Up to the Job created.
	JobCreatedAfter time.Duration `json:"-"`
	// FirstLogLatency is from the first log line's timestamp to it printed (-1 unknown).
	FirstLogLatency time.Duration `json:"-"`
}

// SetDuration sets Duration and DurationSeconds.
func (r *Result) SetDuration(d time.Duration) {
	r.Duration = d
	r.DurationSeconds = d.Round(time.Millisecond).Seconds()
}
