package backup

// BaseBackupCronScript is the shell script of the base backup CronJob
// (`backup schedule set --physical`), run in its pod (the postgres image:
// busybox sh) with the backup CronJob's environment (PGHOST, PGPORT,
// PGDATABASE, PGUSER, PGPASSWORD, POD_NAMESPACE) and the backup volume at
// $BACKUP_DIR (/backups). It runs pg_basebackup over a replication connection
// (pg_hba.conf allows the app user: app.PGHBALines) as `backup create
// --physical` does (one tar with the WAL it needs, -X fetch, compressed by
// pg_basebackup: gzip), into base/<name>.partial, and keeps it only when:
// pg_basebackup exited 0; the bytes it wrote (counted and hashed in the pipe)
// equal the file on the volume (size and sha256); the tar reads whole and
// holds backup_label and backup_manifest; backup_label names the WAL start
// and timeline, which the start pg_basebackup reported must equal, and it
// reported the WAL end. Then it writes the BackupInfo (<name>.json, kind
// scheduled, format pg_basebackup-tar, with the WAL range) and the sha256
// file beside it, renames the tar, and keeps the newest $KEEP_BASE (default
// 2) of its own base backups (never a pinned one or one of another kind).
// A failure keeps nothing and removes nothing. The password is only in the
// environment.
const BaseBackupCronScript = `set -eu
if (set -o pipefail) 2>/dev/null; then set -o pipefail; fi
root="${BACKUP_DIR:-/backups}"; keep="${KEEP_BASE:-2}"
dir="$root/` + InClusterBaseDir + `"
mkdir -p "$dir"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
start=$(date -u +%Y-%m-%dT%H:%M:%SZ)
name="piyasa_db-${POD_NAMESPACE:-piyasa}-$stamp.tar.gz"
out="$dir/$name"
w=$(mktemp -d "${TMPDIR:-/tmp}/basebackup.XXXXXX")
trap 'rm -rf "$w" "$out.partial" "$out.json.partial"' EXIT
fail() { echo "base backup FAILED: $*; nothing kept, no retention run" >&2; exit 1; }
mkfifo "$w/h" "$w/c"
sha256sum < "$w/h" > "$w/sha" &
wc -c < "$w/c" > "$w/n" &
{ pg_basebackup -D - -Ft -X fetch --checkpoint=fast -v --compress=client-gzip --label="piyasa $name" 2> "$w/log"; echo $? > "$w/rc"; } |
  tee "$w/h" "$w/c" > "$out.partial" || pipe=$?
wait
cat "$w/log" >&2
rc=$(cat "$w/rc" 2>/dev/null || echo 255)
[ "$rc" = 0 ] || fail "pg_basebackup exit status $rc"
[ "${pipe:-0}" = 0 ] || fail "tee exit status $pipe"
bytes=$(tr -dc 0-9 < "$w/n"); sha=$(cut -c1-64 < "$w/sha")
stored_bytes=$(wc -c < "$out.partial" | tr -dc 0-9)
stored_sha=$(sha256sum < "$out.partial" | cut -c1-64)
[ "$bytes" = "$stored_bytes" ] && [ "$sha" = "$stored_sha" ] ||
  fail "the file on the volume ($stored_bytes bytes, sha256 $stored_sha) differs from what pg_basebackup wrote ($bytes bytes, sha256 $sha)"
gzip -dc "$out.partial" | tar -tf - > "$w/list" || fail "the tar does not read whole"
grep -qx backup_label "$w/list" && grep -qx backup_manifest "$w/list" || fail "the tar lacks backup_label or backup_manifest"
gzip -dc "$out.partial" | tar -xOf - backup_label > "$w/label" || fail "cannot read backup_label"
lsn='[0-9A-F]\{1,8\}/[0-9A-F]\{1,8\}'
start_lsn=$(sed -n "s|^START WAL LOCATION: \($lsn\) (file [0-9A-F]\{24\})\$|\1|p" "$w/label")
segment=$(sed -n "s|^START WAL LOCATION: $lsn (file \([0-9A-F]\{24\}\))\$|\1|p" "$w/label")
tli=$(sed -n 's|^START TIMELINE: \([0-9]\{1,10\}\)$|\1|p' "$w/label")
[ -n "$start_lsn" ] && [ -n "$segment" ] && [ -n "$tli" ] || fail "backup_label lacks START WAL LOCATION or START TIMELINE"
rep=$(sed -n "s|.*write-ahead log start point: \($lsn\) on timeline \([0-9]*\).*|\1 \2|p" "$w/log" | tail -n 1)
[ -z "$rep" ] || [ "$rep" = "$start_lsn $tli" ] || fail "pg_basebackup reported the start point $rep, backup_label says $start_lsn on timeline $tli"
end_lsn=$(sed -n "s|.*write-ahead log end point: \($lsn\).*|\1|p" "$w/log" | tail -n 1)
[ -n "$end_lsn" ] || fail "pg_basebackup did not report its write-ahead log end point"
raw_sha=$(gzip -dc "$out.partial" | sha256sum | cut -c1-64)
raw_bytes=$(gzip -dc "$out.partial" | wc -c | tr -dc 0-9)
version=$(psql -X -A -t -c "SELECT current_setting('server_version')" | tr -d '\r\n')
[ -n "$version" ] || fail "cannot read the server version"
end=$(date -u +%Y-%m-%dT%H:%M:%SZ)
printf '{"apiVersion":"piyasa.io/v1alpha1","kind":"BackupInfo","name":"%s","location":"%s","namespace":"%s","environment":"","format":"` + FormatBaseBackup + `","database":"%s","serverVersion":"%s","pgDumpVersion":"","images":{},"startTime":"%s","endTime":"%s","compression":"gzip","rawBytes":%s,"rawSHA256":"%s","storedBytes":%s,"storedSHA256":"%s","tables":[],"backupKind":"scheduled","wal":{"timeline":%s,"startLSN":"%s","endLSN":"%s","startSegment":"%s"}}\n' \
  "$name" "$out" "${POD_NAMESPACE:-}" "${PGDATABASE:-piyasa_db}" "$version" "$start" "$end" "$raw_bytes" "$raw_sha" "$stored_bytes" "$stored_sha" "$tli" "$start_lsn" "$end_lsn" "$segment" > "$out.json.partial"
echo "$stored_sha  $name" > "$out.sha256"
mv "$out.json.partial" "$out.json"
mv "$out.partial" "$out"
sync
own="^piyasa_db-${POD_NAMESPACE:-piyasa}-[0-9]{8}T[0-9]{6}Z[.]tar[.]gz\$"
ls -1 "$dir" | { grep -E "$own" || true; } | sort -r | while read -r f; do
  if grep -Eq '"pinned": *true' "$dir/$f.json" 2>/dev/null; then continue; fi
  if ! grep -Eq '"backupKind": *"scheduled"' "$dir/$f.json" 2>/dev/null; then continue; fi
  echo "$f"
done | awk -v k="$keep" 'NR > k' | while read -r f; do
  rm -f "$dir/$f" "$dir/$f.json" "$dir/$f.sha256"; echo "retention: removed $dir/$f"
done
echo "base backup written: $out ($stored_bytes bytes, sha256 $stored_sha, WAL from $segment on timeline $tli to $end_lsn)"
`

// InClusterBaseDir is the directory of the backup volume holding the base
// backups of the base backup CronJob.
const InClusterBaseDir = "base"
