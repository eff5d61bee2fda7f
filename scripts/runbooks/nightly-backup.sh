#!/usr/bin/env bash
# nightly-backup.sh: the nightly job of a cron or CI runner.
#   backup create -> verify --restore-test -> backup wal sync -> retention ->
#   one summary line.
. "$(dirname "$0")/lib.sh"

rb_usage() {
  cat <<USAGE
Usage: $RB_NAME (--dir DIR | --to s3://BUCKET/PREFIX) [--keep-daily 7] [--keep-weekly 4]
       [--keep-monthly 12] [--keep-pinned-days 30] [--compress zstd|gzip|none]
       [--env dev|prod] [-n NS] [--dry-run]

Takes a backup of piyasa_db (kind scheduled), proves it by restoring it into a
scratch database (backup verify --restore-test), copies the WAL archived in
the postgres pod to the same place (backup wal sync: wal/<namespace>/ there,
what point-in-time recovery replays), then applies the retention to
the copies of this environment's namespace in DIR or under the S3 prefix
(backup prune with the same --env/-n): daily, weekly and monthly scheduled
copies are kept (the design's 7/4/12), manual ones are counted apart,
pre-migration/pre-restore/safety copies are kept --keep-pinned-days and pinned
ones always; backups of other namespaces in the same place are left alone. The
newest good backup of each kind is never removed, and nothing is removed when
tonight's backup failed. A missing DIR is created (as backup create does).
Prints one summary line on standard output; --dry-run previews the retention
as it stands before tonight's backup.
S3 endpoint and credentials: the AWS_* variables (see kubectl piyasa backup create --help).

Exit status: 0 backed up, verified and pruned; the failing step's code
otherwise (1 the backup, its verification or the WAL sync failed, 2 bad input, 3 cluster
unreachable or forbidden), with the step named in the summary line.
USAGE
}

where=() daily=7 weekly=4 monthly=12 pinned_days=30 compress=zstd
num() { [[ $2 =~ ^[0-9]+$ ]] || rb_die 2 "$1 needs a whole number, got '$2'"; }
while [[ $# -gt 0 ]]; do
  rb_common_flag "$@"
  if [[ $RB_SHIFT -gt 0 ]]; then shift "$RB_SHIFT"; continue; fi
  case "$1" in
    --dir) [[ $# -ge 2 ]] || rb_die 2 "--dir needs a directory"; where=(--dir "$2"); shift 2 ;;
    --to) [[ ${2:-} == s3://* ]] || rb_die 2 "--to needs s3://BUCKET/PREFIX"; where=(--to "$2"); shift 2 ;;
    --keep-daily) num "$1" "${2:-}"; daily=$2; shift 2 ;;
    --keep-weekly) num "$1" "${2:-}"; weekly=$2; shift 2 ;;
    --keep-monthly) num "$1" "${2:-}"; monthly=$2; shift 2 ;;
    --keep-pinned-days) num "$1" "${2:-}"; pinned_days=$2; shift 2 ;;
    --compress) [[ $# -ge 2 ]] || rb_die 2 "--compress needs a value"; compress=$2; shift 2 ;;
    *) rb_die 2 "unknown argument $1 (see --help)" ;;
  esac
done
[[ ${#where[@]} -eq 2 ]] || rb_die 2 "give --dir DIR or --to s3://BUCKET/PREFIX (see --help)"
# A missing directory is created by backup create; something else by that name is refused.
[[ ${where[0]} != --dir || -d ${where[1]} || ! -e ${where[1]} ]] || rb_die 2 "--dir ${where[1]} exists and is not a directory"
rb_need kubectl jq
# backup list/prune read a place with --dir or --from.
from=("${where[@]}"); [[ ${from[0]} == --to ]] && from=(--from "${from[1]}")
retention=(--keep-daily "$daily" --keep-weekly "$weekly" --keep-monthly "$monthly" --keep-pinned-days "$pinned_days")

fail() { # fail STEP CODE
  echo "nightly-backup: FAILED at $1 (exit $2) in ${where[1]}; nothing was pruned"
  exit "$2"
}

# preview: the retention's own dry run, as it stands now (before tonight's backup).
preview() {
  if [[ ${where[0]} == --dir && ! -d ${where[1]} ]]; then
    printf 'would create: %s (missing; backup create makes it)\n' "${where[1]}"
    return 0
  fi
  local err doc rc
  err=$(mktemp)
  set +e
  doc=$(rb_piyasa backup prune "${from[@]}" "${retention[@]}" --dry-run=client -o json 2>"$err")
  rc=$?
  set -e
  if [[ $rc -ne 0 ]] && ! jq -e .namespace >/dev/null 2>&1 <<<"$doc"; then
    cat "$err" >&2; rm -f "$err"
    rb_die "$rc" "the retention preview failed (exit $rc)"
  fi
  rm -f "$err"
  # Exit 1 with the document: no good backup of the namespace there yet.
  jq -r --arg w "${where[1]}" --argjson rc "$rc" '
    (.removed[] | "retention now would remove: \(.name) (\(.kind // "partial"), \(.reason))"),
    if $rc != 0 then "retention now: no good backup of \(.namespace) in \($w) yet: nothing would be removed"
    else "retention now: keep \(.kept|length), remove \(.removed|length) of \(.namespace)" end
    + (if (.notConsidered|length) > 0 then "; \(.notConsidered|length) of other namespaces or without metadata left alone" else "" end)' <<<"$doc"
}

if $RB_DRY_RUN; then
  printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" backup create "${where[@]}" --kind scheduled --compress "$compress" -o json "${RB_TARGET[@]}")"
  printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" backup verify LOCATION --restore-test "${RB_TARGET[@]}")"
  printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" backup wal sync "${where[@]}" -o json "${RB_TARGET[@]}")"
  preview
  printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" backup prune "${from[@]}" "${retention[@]}" "${RB_TARGET[@]}")"
  exit 0
fi

set +e
info=$(rb_piyasa backup create "${where[@]}" --kind scheduled --compress "$compress" -o json)
rc=$?
set -e
[[ $rc -eq 0 ]] || fail "backup create" "$rc"
loc=$(jq -r .location <<<"$info")

set +e
rb_piyasa backup verify "$loc" --restore-test >&2
rc=$?
set -e
[[ $rc -eq 0 ]] || fail "backup verify --restore-test of $loc" "$rc"

set +e
synced=$(rb_piyasa backup wal sync "${where[@]}" -o json)
rc=$?
set -e
[[ $rc -eq 0 ]] || fail "backup wal sync" "$rc"

set +e
pruned=$(rb_piyasa backup prune "${from[@]}" "${retention[@]}" -o json)
rc=$?
set -e
[[ $rc -eq 0 ]] || { echo "nightly-backup: backup $loc is good, but the retention failed (exit $rc)"; exit "$rc"; }

jq -r --argjson p "$pruned" --argjson w "$synced" '
  "nightly-backup: OK \(.name) \((.storedBytes/1048576*10|floor)/10) MiB, \(.tables|length) tables, \([.tables[].rows]|add // 0) rows, restore-tested; WAL synced to \($w.lastSegment // "none") (\($w.copied) new); kept \($p.kept|length), removed \($p.removed|length)"' <<<"$info"
