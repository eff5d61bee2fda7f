package diagnose

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzClassifyLog: the classifier of a crashed container's log (text the
// app, or anyone, wrote) never panics; it gives a known code with one of the
// log's own lines, or nothing; the evidence lines made of the log are one
// line each, bounded, and valid UTF-8 when the log is. The df parser of the
// volume probes reads the same kind of text and never panics either.
func FuzzClassifyLog(f *testing.F) {
	for _, s := range []string{
		"sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) could not connect to server: Connection refused",
		`could not translate host name "db-service" to address`,
		"KeyError: 'TOKEN_ENCRYPTION_KEY'",
		"pydantic_core._pydantic_core.ValidationError: 1 validation error for Settings\nDATABASE_URL\n  Field required",
		"openai.AuthenticationError: Error code: 401 - {'error': {'message': 'Incorrect API key provided: sk-abc123456789'}}",
		"redis.exceptions.ConnectionError: Error 111 connecting to redis-service:6379. Connection refused.",
		"INFO all good\n\n\n", "GET /api 401 OK", "",
		"connecting with password hunter2 DATABASE_PASSWORD=hunter2 " + strings.Repeat("ş", 200),
		"Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sdb 10000 9500 500 95% /var/lib/postgresql/data\n",
	} {
		f.Add(s)
	}
	codes := []string{"", "PIY103", "PIY104", "PIY105", "PIY106"}
	f.Fuzz(func(t *testing.T, log string) {
		code, line := ClassifyLog(log)
		if !slices.Contains(codes, code) {
			t.Fatalf("unknown code %q", code)
		}
		lines := strings.Split(strings.TrimRight(log, "\n"), "\n")
		if (code == "") != (line == "") || code != "" && !slices.Contains(lines, line) {
			t.Fatalf("code %q with line %q, not one of the log's lines", code, line)
		}
		for _, ev := range newRunner(healthySnapshot(), Config{}, nil, nil).lastLines(log, 20) {
			if !strings.HasPrefix(ev, "log: ") || strings.Contains(ev, "\n") || len(ev) > len("log: ")+240+len("...") {
				t.Fatalf("evidence %q", ev)
			}
			if utf8.ValidString(log) && !utf8.ValidString(ev) {
				t.Fatalf("evidence %q is not valid UTF-8, the log was", ev)
			}
		}
		if use, mnt, ok := ParseDF(log); ok && (mnt == "" || use < 0) {
			t.Fatalf("ParseDF = %d %q", use, mnt)
		}
	})
}
