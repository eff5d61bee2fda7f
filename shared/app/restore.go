package app

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Annotations a live restore (`kubectl piyasa backup restore`) puts on the api
// Deployment and the worker StatefulSet while it has stopped them. They are
// removed when the app runs again; present afterwards, they mean the restore
// did not finish (deploy status and diagnose read them).
const (
	// ReplicasBeforeRestoreAnnotation records the workload's replicas before
	// the restore stopped it (an integer): the count to come back to.
	ReplicasBeforeRestoreAnnotation = "piyasa.io/replicas-before-restore"
	// RestoreAnnotation holds a RestoreRecord as JSON.
	RestoreAnnotation = "piyasa.io/restore-in-progress"
)

// RestoreRecord says which restore stopped the app: enough to name it and to
// give the command that finishes it and the one that goes back.
type RestoreRecord struct {
	// Since is when the restore began stopping the app.
	Since time.Time `json:"since"`
	// Backup is the location (path or s3:// URL) of the backup being restored.
	Backup string `json:"backup"`
	// SafetyBackup is the location of the safety backup of the database as it
	// was ("" when none was taken).
	SafetyBackup string `json:"safetyBackup,omitempty"`
	// Environment is the --env of the restore (dev or prod).
	Environment string `json:"environment"`
	// Holder is who ran it (user@host (pid N)).
	Holder string `json:"holder,omitempty"`
	// Replicas are the replicas of api and worker before the restore, by component.
	Replicas map[string]int32 `json:"replicas,omitempty"`
}

// Marshal returns the annotation value.
func (r RestoreRecord) Marshal() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// ParseRestoreRecord reads the annotation value.
func ParseRestoreRecord(s string) (RestoreRecord, error) {
	var r RestoreRecord
	if err := json.Unmarshal([]byte(s), &r); err != nil {
		return r, fmt.Errorf("annotation %s is not a restore record: %v", RestoreAnnotation, err)
	}
	if r.Backup == "" || r.Since.IsZero() {
		return r, fmt.Errorf("annotation %s lacks the backup or the time", RestoreAnnotation)
	}
	return r, nil
}

// FinishCommand is the command that finishes the interrupted restore: the
// same restore again (it reads the recorded replicas and brings the app back).
func (r RestoreRecord) FinishCommand(ns string) string {
	return fmt.Sprintf("kubectl piyasa backup restore %s -n %s --env %s --yes%s", r.Backup, ns, r.Environment, identityArg(r.Backup))
}

// identityArg is the --identity a restore of an age-encrypted backup (a
// name ending in .age) needs; the file is the operator's, so it is named
// by a placeholder.
func identityArg(backup string) string {
	if strings.HasSuffix(backup, ".age") {
		return " --identity AGE_IDENTITY_FILE"
	}
	return ""
}

// UndoCommand is the command that goes back to the database as it was before
// the restore ("" without a safety backup).
func (r RestoreRecord) UndoCommand(ns string) string {
	if r.SafetyBackup == "" {
		return ""
	}
	return fmt.Sprintf("kubectl piyasa backup restore %s -n %s --env %s --yes --no-safety-backup%s", r.SafetyBackup, ns, r.Environment, identityArg(r.SafetyBackup))
}

// Facts of the point-in-time restore (`backup restore --to-time|--to-latest`).
const (
	// RestoreJobLabel marks the restore Jobs and their pods (value "true").
	RestoreJobLabel = "piyasa.io/restore"
	// RestoreJobBase names the restore Jobs: <prefix>pitr-restore-<UTC time>.
	RestoreJobBase = "pitr-restore"
	// RestoreContainer names the restore Job's one container.
	RestoreContainer = "restore"
	// SafetyCopySuffix names the safety copy of the data directory a
	// point-in-time restore keeps beside it: $PGDATA.before-restore-<UTC time>.
	SafetyCopySuffix = ".before-restore-"
)

// RestoreMarker is the file a point-in-time restore keeps in the data
// directory it is laying down (holding the safety copy's path, or nothing),
// until PostgreSQL came out of recovery on it: a rerun that finds it knows
// the directory is its own unfinished work, not the database to keep.
const RestoreMarker = "piyasa-restore-in-progress"

// LastRestoreAnnotation, on the postgres Deployment, holds the last measured
// point-in-time restore (a MeasuredRestore as JSON): `backup restore
// --dry-run` gives the expected duration from it.
const LastRestoreAnnotation = "piyasa.io/last-restore"

// LastDumpRestoreAnnotation, on the postgres Deployment, holds the last
// measured restore of a dump over the live database (a MeasuredRestore, its
// RawBytes the plain dump's size, no WAL).
const LastDumpRestoreAnnotation = "piyasa.io/last-dump-restore"

// MeasuredRestore is how long a point-in-time restore took, from stopping
// the app to the app running again, and how big its base backup was.
type MeasuredRestore struct {
	// At is when the restore ended.
	At time.Time `json:"at"`
	// Seconds is the time the app was stopped.
	Seconds float64 `json:"seconds"`
	// RawBytes is the base backup's size, uncompressed.
	RawBytes int64 `json:"rawBytes"`
	// WALSegments is how many WAL segments were replayed.
	WALSegments int64 `json:"walSegments"`
}

// Marshal returns the annotation value.
func (m MeasuredRestore) Marshal() string {
	b, _ := json.Marshal(m)
	return string(b)
}

// ParseMeasuredRestore reads the annotation value.
func ParseMeasuredRestore(s string) (MeasuredRestore, error) {
	var m MeasuredRestore
	if err := json.Unmarshal([]byte(s), &m); err != nil || m.Seconds <= 0 || m.RawBytes <= 0 {
		return m, fmt.Errorf("annotation %s is not a measured restore", LastRestoreAnnotation)
	}
	return m, nil
}
