package replication

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/output"
	"github.com/piyasa/kubectl-piyasa/shared/redact"
)

// fields is the number of fields of every row of SQL.
const fields = 9

// Parse reads Command's output into a Status, its lags computed and its
// Message set. Every text that comes from the server (names, hosts,
// states) is masked (shared/redact).
func Parse(out string) (*Status, error) {
	var node, receiver []string
	var senders [][]string
	for _, line := range strings.Split(strings.TrimRight(out, "\r\n"), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != fields {
			return nil, fmt.Errorf("unexpected replication row %q", cut(line))
		}
		for i := range f {
			f[i] = redact.Line(f[i])
		}
		switch f[0] {
		case "node":
			node = f
		case "receiver":
			receiver = f
		case "sender":
			senders = append(senders, f)
		default:
			return nil, fmt.Errorf("unexpected replication row %q", cut(line))
		}
	}
	if node == nil {
		return nil, fmt.Errorf("no replication state in %q", cut(out))
	}
	s, now, err := parseNode(node)
	if err != nil {
		return nil, err
	}
	if s.Role == RoleStandby {
		err = s.standbyLag(receiver, now)
	} else {
		err = s.primaryLag(senders)
	}
	if err != nil {
		return nil, err
	}
	s.Message = s.Line()
	return s, nil
}

// parseNode reads the node row; it returns the server's clock too.
func parseNode(f []string) (*Status, time.Time, error) {
	s := &Status{Role: f[1], CurrentLSN: f[2], ReceiveLSN: f[3], ReplayLSN: f[4], ReplayPaused: f[7] == "true"}
	if s.Role != RolePrimary && s.Role != RoleStandby {
		return nil, time.Time{}, fmt.Errorf("unexpected role %q", f[1])
	}
	last, err1 := epochMS(f[5])
	now, err2 := epochMS(f[6])
	if err1 != nil || err2 != nil || now == nil {
		return nil, time.Time{}, fmt.Errorf("unexpected times %q, %q", f[5], f[6])
	}
	s.LastReplayed = last
	return s, *now, nil
}

// standbyLag reads the WAL receiver's row and computes a standby's lag.
func (s *Status) standbyLag(receiver []string, now time.Time) error {
	streaming := false
	if receiver != nil {
		s.ReceiverStatus, s.SenderHost, s.PrimaryLSN = receiver[1], receiver[2], receiver[4]
		if receiver[3] != "" {
			port, err := strconv.Atoi(receiver[3])
			if err != nil {
				return fmt.Errorf("unexpected sender port %q", receiver[3])
			}
			s.SenderPort = port
		}
		streaming = s.ReceiverStatus == "streaming"
	}
	replay, err := optLSN(s.ReplayLSN)
	if err != nil {
		return err
	}
	end := replay
	for _, v := range []string{s.ReceiveLSN, s.PrimaryLSN} {
		n, err := optLSN(v)
		if err != nil {
			return err
		}
		end = max(end, n)
	}
	s.LagBytes = int64(end - replay)
	caughtUp := streaming && end == replay
	if !caughtUp && s.LastReplayed != nil {
		s.LagSeconds = max(0, now.Sub(*s.LastReplayed).Seconds())
	}
	return nil
}

// primaryLag reads the standbys' rows and computes each one's lag.
func (s *Status) primaryLag(senders [][]string) error {
	cur, err := optLSN(s.CurrentLSN)
	if err != nil {
		return err
	}
	for _, f := range senders {
		sb := Standby{Name: f[1], Client: f[2], State: f[3], SentLSN: f[4], WriteLSN: f[5], FlushLSN: f[6], ReplayLSN: f[7]}
		for _, v := range []string{sb.ReplayLSN, sb.FlushLSN, sb.WriteLSN, sb.SentLSN} {
			if v == "" {
				continue
			}
			n, err := ParseLSN(v)
			if err != nil {
				return err
			}
			if cur > n {
				sb.LagBytes = int64(cur - n)
			}
			break
		}
		if f[8] != "" {
			ms, err := strconv.ParseInt(f[8], 10, 64)
			if err != nil {
				return fmt.Errorf("unexpected replay_lag %q", f[8])
			}
			sb.LagSeconds = float64(ms) / 1000
		}
		s.Standbys = append(s.Standbys, sb)
		s.LagBytes, s.LagSeconds = max(s.LagBytes, sb.LagBytes), max(s.LagSeconds, sb.LagSeconds)
	}
	sort.Slice(s.Standbys, func(i, j int) bool { return s.Standbys[i].Name < s.Standbys[j].Name })
	return nil
}

// Line says the state in one line: "standby of 10.0.0.5, replay lag 0 B / 0s,
// streaming" or "primary, 1 standby (standby-eu streaming, lag 12.0 KiB)".
func (s *Status) Line() string {
	if s.Role == RoleStandby {
		from := "standby of " + output.OrDash(s.SenderHost)
		state := s.ReceiverStatus
		if state == "" {
			from, state = "standby", "not streaming (no WAL receiver)"
		}
		line := fmt.Sprintf("%s, replay lag %s / %s, %s", from, humanBytes(s.LagBytes), seconds(s.LagSeconds), state)
		if s.ReplayPaused {
			line += ", replay paused"
		}
		return line
	}
	if len(s.Standbys) == 0 {
		return "primary, no standby connected"
	}
	parts := make([]string, 0, len(s.Standbys))
	for _, sb := range s.Standbys {
		lag := humanBytes(sb.LagBytes)
		if sb.LagSeconds > 0 {
			lag += " / " + seconds(sb.LagSeconds)
		}
		parts = append(parts, fmt.Sprintf("%s %s, lag %s", output.OrDash(sb.Name), sb.State, lag))
	}
	noun := "standbys"
	if len(s.Standbys) == 1 {
		noun = "standby"
	}
	return fmt.Sprintf("primary, %d %s (%s)", len(s.Standbys), noun, strings.Join(parts, "; "))
}

// optLSN is ParseLSN, with "" read as 0.
func optLSN(s string) (uint64, error) {
	if s == "" {
		return 0, nil
	}
	return ParseLSN(s)
}

// epochMS reads milliseconds since the epoch ("": nil).
func epochMS(s string) (*time.Time, error) {
	if s == "" {
		return nil, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return nil, err
	}
	t := time.UnixMilli(n).UTC()
	return &t, nil
}

// humanBytes is output.HumanBytes, 0 B for a negative count.
func humanBytes(n int64) string { return output.HumanBytes(max(n, 0)) }

// seconds formats a lag in seconds as a duration rounded to the second (0s, 1m5s).
func seconds(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Second).String()
}

// cut shortens a text quoted in an error.
func cut(s string) string {
	if len(s) > 120 {
		return s[:117] + "..."
	}
	return s
}
