// Package replication reads PostgreSQL's streaming replication in one psql
// exec in the postgres pod (Command) and judges it (Parse, Status.Behind):
// on a primary, pg_stat_replication (each standby's state, sent, write,
// flush and replay positions and replay_lag); on a standby, its own view
// (pg_is_in_recovery, the received and replayed positions, the commit time
// of the last replayed transaction, the WAL receiver's status and sender).
// Everything but Command is pure: `deploy status` and diagnose (PIY983) share
// the reading.
//
// Lag rules. Bytes: on a primary, its current WAL position minus a standby's
// replay position; on a standby, the primary's end of WAL as the WAL receiver
// last heard it (latest_end_lsn, or what was received when that is behind)
// minus the replay position. Seconds: on a primary, PostgreSQL's replay_lag
// (empty, so 0, once the standby has caught up with an idle primary); on a
// standby, now minus the commit time of the last replayed transaction, but 0
// when nothing received is left to replay and the primary's end of WAL is
// reached: an idle primary commits nothing, and that time grows although
// nothing is behind. A standby without a streaming WAL receiver cannot know
// the primary's position: its seconds are counted from the last replayed
// transaction however far it got.
package replication

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/psql"
)

// Roles of a server.
const (
	RolePrimary = "primary"
	RoleStandby = "standby"
)

// Status is the replication state of one PostgreSQL server, as `deploy
// status -o json` carries it (field `replication`).
type Status struct {
	// Role is primary or standby (pg_is_in_recovery).
	Role string `json:"role"`
	// CurrentLSN is a primary's current WAL position.
	CurrentLSN string `json:"currentLSN,omitempty"`
	// Standbys are a primary's connected standbys (pg_stat_replication), by name.
	Standbys []Standby `json:"standbys,omitempty"`

	// SenderHost and SenderPort are the server a standby streams from.
	SenderHost string `json:"senderHost,omitempty"`
	SenderPort int    `json:"senderPort,omitempty"`
	// ReceiverStatus is a standby's WAL receiver status (streaming ...), "" when none runs.
	ReceiverStatus string `json:"receiverStatus,omitempty"`
	// ReceiveLSN and ReplayLSN are what a standby received and replayed.
	ReceiveLSN string `json:"receiveLSN,omitempty"`
	ReplayLSN  string `json:"replayLSN,omitempty"`
	// PrimaryLSN is the primary's end of WAL as a standby's receiver last heard it.
	PrimaryLSN string `json:"primaryLSN,omitempty"`
	// LastReplayed is the commit time of the last transaction a standby replayed.
	LastReplayed *time.Time `json:"lastReplayed,omitempty"`
	// ReplayPaused is set while a standby's replay is paused (pg_wal_replay_pause).
	ReplayPaused bool `json:"replayPaused,omitempty"`

	// LagBytes and LagSeconds are a standby's lag, or on a primary the
	// largest of its standbys' (see the package comment for the rules).
	LagBytes   int64   `json:"lagBytes"`
	LagSeconds float64 `json:"lagSeconds"`
	// Message says it in one line (Line).
	Message string `json:"message"`
}

// Standby is one standby as its primary sees it (a row of pg_stat_replication).
type Standby struct {
	// Name is its application_name.
	Name string `json:"name"`
	// Client is its address as the primary sees it ("" for a Unix socket).
	Client string `json:"client,omitempty"`
	// State is the WAL sender's state: startup, catchup, streaming, backup, stopping.
	State     string `json:"state"`
	SentLSN   string `json:"sentLSN,omitempty"`
	WriteLSN  string `json:"writeLSN,omitempty"`
	FlushLSN  string `json:"flushLSN,omitempty"`
	ReplayLSN string `json:"replayLSN,omitempty"`
	// LagBytes is the primary's current position minus the replay position.
	LagBytes int64 `json:"lagBytes"`
	// LagSeconds is replay_lag (0 when PostgreSQL leaves it empty: caught up and idle).
	LagSeconds float64 `json:"lagSeconds"`
}

// Replicating tells a standby, or a primary with at least one standby.
func (s *Status) Replicating() bool {
	return s != nil && (s.Role == RoleStandby || len(s.Standbys) > 0)
}

// SQL reads the replication state as tab-separated rows of 9 text fields,
// the first one naming the row:
//
//	node      role, current LSN (primary), received LSN, replayed LSN, commit time of the last
//	          replayed transaction and now (epoch ms), replay paused (t/f, standby), ""
//	receiver  status, sender host, sender port, latest_end_lsn, "", "", "", ""  (standby, 0 or 1 row)
//	sender    application_name, client address, state, sent, write, flush, replay LSN,
//	          replay_lag in ms  (primary, one row per standby)
//
// A server in recovery has no current LSN and its replay cannot be asked
// about outside it: CASE keeps those calls from running where they fail.
const SQL = `SELECT 'node', CASE WHEN pg_is_in_recovery() THEN 'standby' ELSE 'primary' END,
 CASE WHEN pg_is_in_recovery() THEN '' ELSE pg_current_wal_lsn()::text END,
 coalesce(pg_last_wal_receive_lsn()::text, ''), coalesce(pg_last_wal_replay_lsn()::text, ''),
 coalesce((extract(epoch FROM pg_last_xact_replay_timestamp()) * 1000)::bigint::text, ''),
 (extract(epoch FROM now()) * 1000)::bigint::text,
 CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused()::text ELSE '' END, ''
UNION ALL
SELECT 'receiver', coalesce(status, ''), coalesce(sender_host, ''), coalesce(sender_port::text, ''),
 coalesce(latest_end_lsn::text, ''), '', '', '', '' FROM pg_stat_wal_receiver
UNION ALL
SELECT 'sender', coalesce(application_name, ''), coalesce(host(client_addr), ''), coalesce(state, ''),
 coalesce(sent_lsn::text, ''), coalesce(write_lsn::text, ''), coalesce(flush_lsn::text, ''), coalesce(replay_lsn::text, ''),
 coalesce((extract(epoch FROM replay_lag) * 1000)::bigint::text, '') FROM pg_stat_replication`

// Command is the exec command that runs SQL in the postgres container
// (shared/psql: the password from the container's environment).
func Command() []string { return psql.Command(app.DatabaseName, SQL) }

// ParseLSN reads a WAL position as PostgreSQL prints it (16/B374D848).
func ParseLSN(s string) (uint64, error) {
	hi, lo, ok := strings.Cut(s, "/")
	if !ok {
		return 0, fmt.Errorf("not a WAL position: %q", s)
	}
	h, err1 := strconv.ParseUint(hi, 16, 32)
	l, err2 := strconv.ParseUint(lo, 16, 32)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("not a WAL position: %q", s)
	}
	return h<<32 | l, nil
}

// Limits are the lag over which a standby is behind (diagnose PIY983).
type Limits struct {
	Bytes   int64
	Seconds float64
}

// DefaultLimits are diagnose's: 16 MiB (one WAL segment) or 60 s.
var DefaultLimits = Limits{Bytes: 16 << 20, Seconds: 60}

// Behind says, one line each, which standbys lag over the limits: a
// standby itself ("replay lag ..."), or a primary's standbys ("standby
// NAME: replay lag ...").
func (s *Status) Behind(l Limits) []string {
	if s == nil {
		return nil
	}
	over := func(who string, bytes int64, secs float64) []string {
		if bytes <= l.Bytes && secs <= l.Seconds {
			return nil
		}
		return []string{fmt.Sprintf("%sreplay lag %s / %s (limits %s / %s)", who, humanBytes(bytes), seconds(secs), humanBytes(l.Bytes), seconds(l.Seconds))}
	}
	if s.Role == RoleStandby {
		return over("", s.LagBytes, s.LagSeconds)
	}
	var out []string
	for _, sb := range s.Standbys {
		out = append(out, over("standby "+sb.Name+": ", sb.LagBytes, sb.LagSeconds)...)
	}
	return out
}
