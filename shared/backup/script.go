package backup

import (
	"github.com/piyasa/kubectl-piyasa/shared/psql"
)

// The shell scripts run in the postgres container (POSIX sh: the image's is
// busybox ash). The password is taken from the container's environment
// (POSTGRES_PASSWORD, which the manifests fill from DATABASE_PASSWORD of the
// Secret): it never appears in a command line, an argument or a message.
const pgEnv = psql.Env

// streamScript runs the shell command producer (which may use "$@"), passes
// its output through tee to the stream and to sha256sum and wc -c, and
// writes on stderr one status line with the producer's own exit status, the
// byte count and the sha256: the exec's exit status is not trusted (streams
// have ended early with status 0, and kwok passes no exit code). pg_dump,
// pg_basebackup, the Redis copy, backup pull and the copy of an archived WAL
// segment all stream through it.
func streamScript(producer string) string {
	return `d=$(mktemp -d "${TMPDIR:-/tmp}/piyasa-backup.XXXXXX") || exit 97
trap 'rm -rf "$d"' EXIT
mkfifo "$d/h" "$d/c" || exit 97
sha256sum < "$d/h" > "$d/sha" &
wc -c < "$d/c" > "$d/n" &
{ ` + producer + `; echo $? > "$d/rc"; } | tee "$d/h" "$d/c"
t=$?
wait
rc=$(cat "$d/rc" 2>/dev/null || echo 255)
n=$(tr -dc 0-9 < "$d/n")
h=$(cut -c1-64 < "$d/sha")
echo "` + StatusMarker + ` rc=$rc tee=$t bytes=${n:-0} sha256=$h" >&2
exit $rc
`
}

// dumpScript runs pg_dump with its arguments ("$@") through streamScript.
var dumpScript = pgEnv + streamScript(`pg_dump "$@"`)

// DumpArgs are pg_dump's arguments: a plain dump without owners or ACLs that cleans first.
func DumpArgs(db string) []string {
	return []string{"--no-owner", "--no-acl", "--clean", "--if-exists", "--format=plain", "--dbname=" + db}
}

// DumpCommand is the exec command of a dump.
func DumpCommand(db string) []string {
	return append([]string{"sh", "-c", dumpScript, "piyasa-backup"}, DumpArgs(db)...)
}

// restoreScript feeds exactly $1 bytes of stdin to psql (the rest of its
// arguments, with --single-transaction and ON_ERROR_STOP): on kwok an exec's
// stdin does not end at EOF, and on every cluster a short upload is then
// detected. psql commits a --single-transaction at the end of its input even
// when that input was cut, so when fewer than $1 bytes arrived the script
// ends any COPY block and sends a statement that fails: psql stops there and
// rolls the whole transaction back.
const restoreScript = pgEnv + `n="$1"; shift
d=$(mktemp -d "${TMPDIR:-/tmp}/piyasa-restore.XXXXXX") || exit 97
trap 'rm -rf "$d"' EXIT
mkfifo "$d/c" || exit 97
{
  wc -c < "$d/c" > "$d/n" &
  head -c "$n" | tee "$d/c"
  wait
  got=$(tr -dc 0-9 < "$d/n")
  if [ "${got:-0}" != "$n" ]; then
    printf '\n\\.\nDO $piyasa$ BEGIN RAISE EXCEPTION %s; END $piyasa$;\n' "'piyasa restore: input truncated at ${got:-0} of $n bytes, rolled back'"
  fi
} | psql "$@"
rc=$?
got=$(tr -dc 0-9 < "$d/n" 2>/dev/null)
echo "` + RestoreMarker + ` rc=$rc bytes=${got:-0}" >&2
exit $rc
`

// RestoreMarker starts the status line of a restore.
const RestoreMarker = "PIYASA-RESTORE-STATUS"

// psqlScript runs psql with its arguments and the password from the environment.
const psqlScript = psql.Script

// PsqlCommand runs one SQL text in db and prints unaligned, tuples-only rows (shared/psql).
func PsqlCommand(db, sql string) []string { return psql.Command(db, sql) }

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string {
	out := []byte{'\''}
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}

// quoteIdent quotes s as an SQL identifier.
func quoteIdent(s string) string {
	out := []byte{'"'}
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			out = append(out, '"')
		}
		out = append(out, s[i])
	}
	return string(append(out, '"'))
}

// baseBackupScript runs pg_basebackup with its arguments ("$@") through
// streamScript, as the user and password every script uses.
var baseBackupScript = pgEnv + streamScript(`pg_basebackup "$@"`)

// pgCompress is pg_basebackup's --compress of a backup compressed with c.
//
// The compression is client-side: pg_basebackup is that client and runs in
// the postgres pod, so only compressed bytes cross the API server. With
// -D - (tar to stdout) PostgreSQL 15 (the local tests) and 16 (the
// postgres:16-alpine image) accept client-zstd, client-gzip and none;
// server-zstd and server-gzip are refused ("cannot inject manifest into a
// compressed tar file") because pg_basebackup writes backup_manifest into
// base.tar, which it cannot do in a stream compressed by the server.
func pgCompress(c Compression) string {
	switch c {
	case Zstd:
		return "client-zstd"
	case Gzip:
		return "client-gzip"
	}
	return "none"
}

// BaseBackupArgs are pg_basebackup's arguments: the data directory as one
// tar on stdout (-Ft -D -, with the backup_manifest inside), the WAL the
// copy needs fetched into it at the end (-X fetch: a consistent copy on its
// own; the WAL must stay on the server until then, which archiving and
// wal_keep_size ensure), a fast checkpoint (not up to checkpoint_timeout of
// waiting), verbose for the WAL start and end points, and the label.
func BaseBackupArgs(c Compression, label string) []string {
	return []string{"-D", "-", "-Ft", "-X", "fetch", "--checkpoint=fast", "-v", "--compress=" + pgCompress(c), "--label=" + label}
}

// BaseBackupCommand is the exec command of a base backup.
func BaseBackupCommand(c Compression, label string) []string {
	return append([]string{"sh", "-c", baseBackupScript, "piyasa-basebackup"}, BaseBackupArgs(c, label)...)
}
