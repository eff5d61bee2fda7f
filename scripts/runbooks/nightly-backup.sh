#!/usr/bin/env bash
# nightly-backup.sh: the nightly job of a cron or CI runner.
#   backup create -> verify --restore-test -> retention -> one summary line.
. "$(dirname "$0")/lib.sh"

rb_usage() {
  cat <<USAGE
Usage: $RB_NAME (--dir DIR | --to s3://BUCKET/PREFIX) [--keep-daily 7] [--keep-weekly 4]
       [--keep-monthly 12] [--compress zstd|gzip|none] [--env dev|prod] [-n NS] [--dry-run]

Takes a backup of piyasa_db, proves it by restoring it into a scratch database
(backup verify --restore-test), then applies the retention to the copies in DIR
or under the S3 prefix: daily, weekly and monthly copies are kept (the design's
7/4/12); the newest good backup is never removed, and nothing is removed when
tonight's backup failed. Prints one summary line on standard output.
S3 endpoint and credentials: the AWS_* variables (see kubectl piyasa backup create --help).

Exit status: 0 backed up, verified and pruned; the failing step's code
otherwise (1 the backup or its verification failed, 2 bad input, 3 cluster
unreachable or forbidden), with the step named in the summary line.
USAGE
}

where=() daily=7 weekly=4 monthly=12 compress=zstd
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
    --compress) [[ $# -ge 2 ]] || rb_die 2 "--compress needs a value"; compress=$2; shift 2 ;;
    *) rb_die 2 "unknown argument $1 (see --help)" ;;
  esac
done
[[ ${#where[@]} -eq 2 ]] || rb_die 2 "give --dir DIR or --to s3://BUCKET/PREFIX (see --help)"
[[ ${where[0]} != --dir || -d ${where[1]} ]] || rb_die 2 "--dir ${where[1]} is not a directory"
rb_need kubectl jq
# backup list/prune read a place with --dir or --from.
from=("${where[@]}"); [[ ${from[0]} == --to ]] && from=(--from "${from[1]}")
retention=(--keep-daily "$daily" --keep-weekly "$weekly" --keep-monthly "$monthly")

fail() { # fail STEP CODE
  echo "nightly-backup: FAILED at $1 (exit $2) in ${where[1]}; nothing was pruned"
  exit "$2"
}

if $RB_DRY_RUN; then
  printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" backup create "${where[@]}" --compress "$compress" -o json "${RB_TARGET[@]}")"
  printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" backup verify LOCATION --restore-test "${RB_TARGET[@]}")"
  # The retention's own dry run says what it would remove now.
  rb_piyasa backup prune "${from[@]}" "${retention[@]}" --dry-run=client >&2 || true
  printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" backup prune "${from[@]}" "${retention[@]}" "${RB_TARGET[@]}")"
  exit 0
fi

set +e
info=$(rb_piyasa backup create "${where[@]}" --compress "$compress" -o json)
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
pruned=$(rb_piyasa backup prune "${from[@]}" "${retention[@]}" -o json)
rc=$?
set -e
[[ $rc -eq 0 ]] || { echo "nightly-backup: backup $loc is good, but the retention failed (exit $rc)"; exit "$rc"; }

jq -r --argjson p "$pruned" '
  "nightly-backup: OK \(.name) \((.storedBytes/1048576*10|floor)/10) MiB, \(.tables|length) tables, \([.tables[].rows]|add // 0) rows, restore-tested; kept \($p.kept|length), removed \($p.removed|length)"' <<<"$info"
