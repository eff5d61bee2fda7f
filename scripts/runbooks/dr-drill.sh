#!/usr/bin/env bash
# dr-drill.sh: the guide's Disaster Recovery, rehearsed.
#   take or pick the newest verified backup -> deploy the app into a scratch
#   namespace -> restore the backup there -> diagnose -> compare every table's
#   rows with the source -> sync the WAL to the place -> print RTO and RPO,
#   also the RPO a point-in-time restore from the place would have -> delete
#   the scratch namespace.
. "$(dirname "$0")/lib.sh"

rb_usage() {
  cat <<USAGE
Usage: $RB_NAME (--dir DIR | --from s3://BUCKET/PREFIX | --backup LOCATION) [--take]
       [--scratch NS] [--env-file FILE] [--keep] [--timeout 10m] [--env dev|prod] [-n NS] [--dry-run]

  --dir DIR / --from s3://...  where the backups are; the newest one that passed
                               'backup verify' is used, or with --take a new one is
                               taken there first
  --backup LOCATION            this backup (a file or s3:// object) instead
  --scratch NS                 the scratch namespace (default <namespace>-drill-<time>); it must not exist
  --env-file FILE              the .env of the scratch deploy (default: fresh secrets from init-env)
  --keep                       leave the scratch namespace for a look (delete it with
                               kubectl piyasa deploy delete --delete-data --yes -n NS)
  --dry-run                    print the commands that would change something; run none of them

Prints the recovery time (RTO: deploy + restore + checks), the backup's age
(RPO) and, after syncing the source's archived WAL to the place (backup wal sync),
the source's point-in-time recovery window there (backup status) and the RPO a
point-in-time restore from it would have now (now - the window's end). Exit status: 0 only when the backup restored every table with every row
and diagnose found no error in the scratch namespace; 1 otherwise (the failing
step is named); 2 bad input; 3 cluster unreachable or forbidden.
USAGE
}

place=() backup="" take=false scratch="" env_file="" keep=false timeout=10m
while [[ $# -gt 0 ]]; do
  rb_common_flag "$@"
  if [[ $RB_SHIFT -gt 0 ]]; then shift "$RB_SHIFT"; continue; fi
  case "$1" in
    --dir) [[ -d ${2:-} ]] || rb_die 2 "--dir needs an existing directory"; place=(--dir "$2"); shift 2 ;;
    --from) [[ ${2:-} == s3://* ]] || rb_die 2 "--from needs s3://BUCKET/PREFIX"; place=(--from "$2"); shift 2 ;;
    --backup) [[ $# -ge 2 ]] || rb_die 2 "--backup needs a file or s3:// location"; backup=$2; shift 2 ;;
    --take) take=true; shift ;;
    --scratch) [[ ${2:-} =~ ^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$ ]] || rb_die 2 "--scratch needs a namespace name"; scratch=$2; shift 2 ;;
    --env-file) [[ -r ${2:-} ]] || rb_die 2 "--env-file: cannot read '${2:-}'"; env_file=$2; shift 2 ;;
    --keep) keep=true; shift ;;
    --timeout) [[ $# -ge 2 ]] || rb_die 2 "--timeout needs a value"; timeout=$2; shift 2 ;;
    *) rb_die 2 "unknown argument $1 (see --help)" ;;
  esac
done
[[ -n $backup || ${#place[@]} -eq 2 ]] || rb_die 2 "give --dir DIR, --from s3://... or --backup LOCATION (see --help)"
[[ -z $backup || ${#place[@]} -eq 0 ]] || rb_die 2 "--backup and --dir/--from exclude each other"
! $take || [[ ${#place[@]} -eq 2 ]] || rb_die 2 "--take needs --dir or --from (where to write the new backup)"
rb_need kubectl jq

# The source: its namespace and environment.
status=$(rb_json deploy status) || true
src_ns=$(jq -r '.namespace // empty' <<<"$status")
env=$(jq -r '.environment // empty' <<<"$status")
[[ -n $src_ns && -n $env ]] || rb_die 3 "cannot read the source app (kubectl piyasa deploy status$(rb_target_text))"
stamp=$(date -u +%Y%m%d%H%M%S)
scratch=${scratch:-${src_ns:0:40}-drill-$stamp}
[[ $scratch != "$src_ns" ]] || rb_die 2 "--scratch must not be the source namespace"
in_scratch=(--env "$env" -n "$scratch")
work=$(mktemp -d)
cleanup_scratch=false
finish() {
  local rc=$?
  if $cleanup_scratch && ! $keep; then
    rb_info "deleting the scratch namespace $scratch"
    "${RB_PIYASA[@]}" deploy delete "${in_scratch[@]}" --delete-data --yes >&2 || rb_info "could not delete $scratch: kubectl delete namespace $scratch"
  fi
  rm -rf "$work"
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM
drill_fail() { rb_info "DRILL FAILED at $1 (exit $2)"; exit "${3:-1}"; }

# 1. the backup
if [[ -z $backup ]] && $take; then
  if $RB_DRY_RUN; then
    printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" backup create "${place[@]/--from/--to}" -o json "${RB_TARGET[@]}")"
    backup="<the new backup>"
  else
    info=$(rb_piyasa backup create "${place[@]/--from/--to}" -o json) || drill_fail "backup create" $? $?
    backup=$(jq -r .location <<<"$info")
  fi
elif [[ -z $backup ]]; then
  list=$(rb_piyasa backup list "${place[@]}" -o json) || drill_fail "backup list" $? 3
  backup=$(jq -r '[.items[] | select(.status == "ok" and .info.verification != null)] | sort_by(.info.endTime) | last | .location // empty' <<<"$list")
  [[ -n $backup ]] || drill_fail "choosing a backup: none in ${place[1]} has passed 'backup verify' (take one with --take)" 1
fi
if [[ $backup != "<the new backup>" ]]; then
  info=$(rb_piyasa backup verify "$backup" -o json 2>/dev/null | jq -c '.info // empty') || true
  [[ -n $info ]] || info=$(rb_piyasa backup list "${place[@]}" -o json 2>/dev/null | jq -c --arg l "$backup" '.items[] | select(.location == $l) | .info') || true
  [[ -n $info && $info != null ]] || drill_fail "reading the metadata of $backup (backup verify $backup)" 1
fi
rb_info "drilling with $backup"

# 1b. the WAL archived since the last sync goes to the place too (idempotent),
# so that the point-in-time window reported below is today's. A source without
# WAL archiving has none to sync: said in the report, not a failure of the drill.
wal_note=""
if [[ ${#place[@]} -eq 2 ]]; then
  if $RB_DRY_RUN; then
    printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" backup wal sync "${place[@]/--from/--to}" -o json "${RB_TARGET[@]}")"
  elif ! synced=$(rb_piyasa backup wal sync "${place[@]/--from/--to}" -o json 2>"$work/walsync.err"); then
    wal_note="WAL not synced ($(head -n 1 "$work/walsync.err"))"
  else
    wal_note="WAL synced to $(jq -r '.lastSegment // "none"' <<<"$synced") ($(jq -r '.copied' <<<"$synced") new)"
  fi
fi

if $RB_DRY_RUN; then
  printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" deploy "${in_scratch[@]}" --env-file "${env_file:-<fresh .env>}" --timeout "$timeout")"
  printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" backup restore "$backup" "${in_scratch[@]}" --yes --no-safety-backup --timeout "$timeout")"
  printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" diagnose "${in_scratch[@]}")"
  $keep || printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" deploy delete "${in_scratch[@]}" --delete-data --yes)"
  exit 0
fi

# 2. the scratch app
if "${RB_PIYASA[@]}" deploy status "${in_scratch[@]}" -o json >/dev/null 2>&1 || kubectl get namespace "$scratch" >/dev/null 2>&1; then
  rb_die 2 "the scratch namespace $scratch exists already: name another with --scratch"
fi
if [[ -z $env_file ]]; then
  env_file=$work/.env
  "${RB_PIYASA[@]}" deploy init-env -f "$env_file" >/dev/null 2>&1 || drill_fail "deploy init-env" $?
fi
t0=$(date +%s)
cleanup_scratch=true
"${RB_PIYASA[@]}" deploy "${in_scratch[@]}" --env-file "$env_file" --timeout "$timeout" >&2 || drill_fail "deploy into $scratch" $?

# 3. the restore (quiesces the scratch app, checks rows and sequences, scales back)
"${RB_PIYASA[@]}" backup restore "$backup" "${in_scratch[@]}" --yes --no-safety-backup --timeout "$timeout" >&2 || drill_fail "backup restore into $scratch" $?

# 4. diagnose the recovered app
set +e
"${RB_PIYASA[@]}" diagnose "${in_scratch[@]}" >&2
diag=$?
set -e
t1=$(date +%s)

# 5. every table's rows, read back from the scratch database, against the source's
"${RB_PIYASA[@]}" backup create -f "$work/readback.sql" --compress none "${in_scratch[@]}" -o json >"$work/readback.json" 2>/dev/null ||
  drill_fail "reading the restored database back (backup create in $scratch)" $?
diff=$(jq -r --slurpfile got "$work/readback.json" '
  (.tables | map({(.name): .rows}) | add // {}) as $want |
  ($got[0].tables | map({(.name): .rows}) | add // {}) as $have |
  [($want | keys[]) as $t | select($have[$t] != $want[$t]) | "\($t): \($want[$t]) rows in the backup, \($have[$t] // "no table") restored"] | join("; ")' <<<"$info")
tables=$(jq '.tables | length' <<<"$info")
rows=$(jq '[.tables[].rows] | add // 0' <<<"$info")

rto=$((t1 - t0))
rpo=$(( $(date +%s) - $(date -d "$(jq -r .endTime <<<"$info")" +%s) ))
human() { local s=$1; printf '%dh%02dm%02ds' $((s/3600)) $((s%3600/60)) $((s%60)); }
echo "dr-drill: backup $(jq -r .name <<<"$info") of $src_ns restored into $scratch"
echo "  RTO (deploy + restore + diagnose): $(human "$rto")"
echo "  RPO (age of the backup):           $(human "$rpo")"
# What point-in-time recovery could reach instead: the source's window at the
# place (backup status reads the base backups and the WAL synced there).
window="unknown (give --dir or --from)"
if [[ ${#place[@]} -eq 2 ]]; then
  st=$(rb_piyasa backup status "${place[@]/--from/--to}" -o json 2>/dev/null) || true
  window=$(jq -r 'if .window then "\(.window.from) to \(.window.to) (base backup \(.window.baseBackup))"
    else "none: \(.problems[0] // "no base backup with a whole WAL chain")" end' <<<"$st" 2>/dev/null) || true
  [[ -n $window ]] || window="unknown (kubectl piyasa backup status failed)"
  # What a point-in-time restore from the place would lose if the source
  # were lost now: everything after the window's end.
  to=$(jq -r '.window.to // empty' <<<"$st" 2>/dev/null) || true
  [[ -z $to ]] || pitr_rpo=$(( $(date +%s) - $(date -d "$to" +%s) ))
fi
echo "  recovery window (point in time):   $window${wal_note:+; $wal_note}"
[[ -z ${pitr_rpo:-} ]] || echo "  RPO with point-in-time recovery:   $(human "$pitr_rpo") (now - the window's end)"
if [[ -n $diff ]]; then
  echo "  rows: MISMATCH: $diff"
  drill_fail "the row-count comparison" 1
fi
echo "  rows: $tables tables, $rows rows, all equal to the source's"
[[ $diag -eq 0 ]] || drill_fail "diagnose of $scratch (exit $diag)" 1
echo "dr-drill: OK"
