package backup

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/piyasa/kubectl-piyasa/shared/app"
	"github.com/piyasa/kubectl-piyasa/shared/cli"
)

// PostgresRoot is where Debian's postgresql packages install their servers
// (/usr/lib/postgresql/<major>/bin): verify --restore-test of a base backup
// starts the server of the backup's major from there.
var PostgresRoot = "/usr/lib/postgresql"

// serverMajor is the major version of a server_version ("16.4 (Debian ...)" is 16).
func serverMajor(version string) string {
	v, _, _ := strings.Cut(strings.TrimSpace(version), ".")
	v, _, _ = strings.Cut(v, " ")
	if _, err := strconv.Atoi(v); err != nil {
		return ""
	}
	return v
}

// localServer finds the bin directory of an installed PostgreSQL of the
// given major ("" when none is).
func localServer(major string) string {
	dir := filepath.Join(PostgresRoot, major, "bin")
	for _, f := range []string{"postgres", "pg_ctl", "psql"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return ""
		}
	}
	return dir
}

// baseRestoreTest extracts a base backup into a temporary directory, starts
// a local PostgreSQL of its major on it (localScript), compares every
// table's row count and the Alembic revision with the metadata, stops it
// and removes the directory.
func (o *VerifyOptions) baseRestoreTest(ctx context.Context, loc Location, info *BackupInfo) ([]string, error) {
	major := serverMajor(info.ServerVersion)
	bin := localServer(major)
	if bin == "" {
		return nil, cli.Usagef("--restore-test of a base backup starts a local PostgreSQL %s and none is installed (%s/%s/bin); the checksums were not recorded as verified",
			orDash(major), PostgresRoot, orDash(major)).WithHint("install postgresql-%s, or run backup verify without --restore-test", orDash(major))
	}
	dir, err := os.MkdirTemp("", "piyasa-verify-")
	if err != nil {
		return nil, cli.Failedf("cannot create a scratch directory: %v", err)
	}
	o.Infof("restore test: extracting into %s and starting PostgreSQL %s on it\n", dir, major)
	out, err := o.runLocal(ctx, loc, info, bin, dir)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return []string{"restore test: " + err.Error()}, nil
	}
	return compareLocal(info, out)
}

// localScript extracts the plain tar on its stdin into $1/data (owned by
// the postgres account when run as root: PostgreSQL refuses root), starts
// the server of $BIN on it (crash recovery from backup_label with the WAL
// the tar holds; no TCP, no archiving, a trust pg_hba of its own on a socket
// in $1), prints $SQL's rows from piyasa_db, then stops it and removes $1.
const localScript = `d="$1"
as() { "$@"; }
trap 'as "$BIN/pg_ctl" -D "$d/data" -m fast -w stop >/dev/null 2>&1; rm -rf "$d"' EXIT
mkdir -m 700 "$d/data" && tar -x -f - -C "$d/data" || { echo "cannot extract the tar into $d" >&2; exit 1; }
printf 'local all all trust\n' > "$d/hba.conf"
if [ "$(id -u)" = 0 ]; then
  chown -R postgres: "$d" || exit 1
  as() { su postgres -s /bin/sh -c 'exec "$0" "$@"' -- "$@"; }
fi
as "$BIN/pg_ctl" -D "$d/data" -l "$d/log" -w -t 600 start \
  -o "-p 5432 -k $d -c listen_addresses='' -c archive_mode=off -c hba_file=$d/hba.conf -c fsync=off" >/dev/null ||
  { echo "PostgreSQL did not start on the backup: $(tail -n 1 "$d/log" 2>/dev/null)" >&2; exit 1; }
as "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -A -t -F "$TAB" -h "$d" -p 5432 -U "$PGUSER" -d "$PGDATABASE" -c "$SQL"
`

// runLocal runs localScript on the decompressed backup and returns its output.
func (o *VerifyOptions) runLocal(ctx context.Context, loc Location, info *BackupInfo, bin, dir string) (string, error) {
	r, err := loc.Target.Open(ctx, loc.Name)
	if err != nil {
		os.Remove(dir)
		return "", err
	}
	defer r.Close()
	clear, err := o.ids.Decrypt(r, loc.Target.Location(loc.Name), info.Encryption)
	if err != nil {
		os.Remove(dir)
		return "", err
	}
	dec, err := Compression(info.Compression).NewDecompressor(clear)
	if err != nil {
		os.Remove(dir)
		return "", err
	}
	defer dec.Close()
	var q strings.Builder
	q.WriteString("SELECT '', (" + alembicSQL + ")::text")
	for _, t := range info.Tables {
		fmt.Fprintf(&q, " UNION ALL SELECT %s, count(*)::text FROM %s", quoteLiteral(t.Name), t.Name)
	}
	cmd := exec.CommandContext(ctx, "sh", "-c", localScript, "piyasa-verify", dir)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C.UTF-8", "BIN=" + bin, "TAB=\t", "SQL=" + q.String(),
		"PGUSER=" + app.DatabaseUser, "PGDATABASE=" + app.DatabaseName}
	var out, errOut bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = dec, &out, &errOut
	cmd.WaitDelay = time.Minute
	if err := cmd.Run(); err != nil {
		if msg := lastLine(errOut.String()); msg != "" {
			return "", fmt.Errorf("%s", msg)
		}
		return "", err
	}
	return out.String(), nil
}

// compareLocal reads the rows localScript printed (the Alembic revision,
// then every table's count) and names every difference with the metadata.
func compareLocal(info *BackupInfo, out string) ([]string, error) {
	got := map[string]int64{}
	var problems []string
	for _, line := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		name, v, _ := strings.Cut(line, "\t")
		if name == "" {
			if v != info.AlembicRevision {
				problems = append(problems, fmt.Sprintf("the restored alembic_version holds %q, the metadata %q", v, info.AlembicRevision))
			}
			continue
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("unexpected psql output %q", line)
		}
		got[name] = n
	}
	return append(problems, compareRows(info.TableMap(), got, "the restored base backup")...), nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
