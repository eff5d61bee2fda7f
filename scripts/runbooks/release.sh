#!/usr/bin/env bash
# release.sh IMAGE_TAG: a release of the api and workers, the safe way.
#   diagnose must be clean (or --force) -> backup create + verify ->
#   migrate status -> deploy update --migrate -> diagnose.
# On a failed step it stops, rolls back what that step allows, and says what
# state the app is in and the next command.
. "$(dirname "$0")/lib.sh"

rb_usage() {
  cat <<USAGE
Usage: $RB_NAME IMAGE_TAG [--force] (--backup-dir DIR | --backup-to s3://BUCKET/PREFIX)
       [--timeout 10m] [--env dev|prod] [-n NS] [--dry-run]

  IMAGE_TAG      the tag (or full reference) of the api image; the workers follow
  --force        release even when diagnose finds errors before
  --backup-dir / --backup-to
                 where the pre-release backup goes (default --backup-dir ./backups)
  --dry-run      print the commands that would change something; run none of them

Exit status: 0 released and diagnose clean; 1 a step failed (the message says
the state and the next command); 2 bad input; 3 cluster unreachable or forbidden.
USAGE
}

tag="" force=false where=(--dir ./backups) timeout=10m
while [[ $# -gt 0 ]]; do
  rb_common_flag "$@"
  if [[ $RB_SHIFT -gt 0 ]]; then shift "$RB_SHIFT"; continue; fi
  case "$1" in
    --force) force=true; shift ;;
    --backup-dir) [[ $# -ge 2 ]] || rb_die 2 "--backup-dir needs a directory"; where=(--dir "$2"); shift 2 ;;
    --backup-to) [[ ${2:-} == s3://* ]] || rb_die 2 "--backup-to needs s3://BUCKET/PREFIX"; where=(--to "$2"); shift 2 ;;
    --timeout) [[ $# -ge 2 ]] || rb_die 2 "--timeout needs a value"; timeout=$2; shift 2 ;;
    -*) rb_die 2 "unknown flag $1 (see --help)" ;;
    *) [[ -z $tag ]] || rb_die 2 "one IMAGE_TAG only"; tag=$1; shift ;;
  esac
done
[[ -n $tag ]] || rb_die 2 "IMAGE_TAG is required (see --help)"
rb_need kubectl jq
t=$(rb_target_text)
step() { rb_info "step $1"; }
state() { # state MESSAGE NEXT CODE
  echo "release: STOPPED: $1"
  echo "next: $2"
  exit "$3"
}

# 1. diagnose before
step "1/5 diagnose before the release"
set +e
report=$(rb_json diagnose)
rc=$?
set -e
if [[ $rc -ne 0 ]]; then
  [[ $rc -eq 1 ]] || state "diagnose could not read the app (exit $rc); nothing was changed" "kubectl piyasa diagnose$t" "$rc"
  errors=$(jq -r '[.findings[]? | select(.severity=="error") | .code] | unique | join(",")' <<<"$report")
  if ! $force; then
    state "diagnose finds errors before the release ($errors); nothing was changed" "fix them (kubectl piyasa diagnose$t), or release anyway with --force" 1
  fi
  rb_info "diagnose finds errors ($errors); going on because of --force"
fi

# 2. backup, verified
step "2/5 backup"
if [[ ${where[0]} == --dir && ! -d ${where[1]} ]] && ! $RB_DRY_RUN; then mkdir -p "${where[1]}" && chmod 0700 "${where[1]}"; fi
if $RB_DRY_RUN; then
  printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" backup create "${where[@]}" -o json "${RB_TARGET[@]}")"
  printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" backup verify LOCATION "${RB_TARGET[@]}")"
  loc="LOCATION"
else
  set +e
  info=$(rb_piyasa backup create "${where[@]}" -o json)
  rc=$?
  set -e
  [[ $rc -eq 0 ]] || state "the backup failed (exit $rc); nothing was changed" "kubectl piyasa backup create ${where[*]}$t" "$rc"
  loc=$(jq -r .location <<<"$info")
  rb_piyasa backup verify "$loc" >&2 || state "the new backup $loc does not verify; nothing was changed" "kubectl piyasa backup verify $loc$t" 1
fi

# 3. migration status of the running image
step "3/5 migration status"
set +e
mst=$(rb_json migrate status)
rc=$?
set -e
if [[ $rc -gt 1 ]] || ! jq -e .kind >/dev/null 2>&1 <<<"$mst"; then
  state "cannot read the migration status (exit $rc); nothing was changed" "kubectl piyasa migrate status$t" "$rc"
fi
if [[ $(jq -r .multipleHeads <<<"$mst") == true ]]; then
  state "the running image has several Alembic heads; nothing was changed" "kubectl piyasa migrate status$t" 1
fi
if [[ $(jq -r '.running.name // ""' <<<"$mst") != "" ]]; then
  state "a migration Job is running ($(jq -r .running.name <<<"$mst")); nothing was changed" "kubectl piyasa migrate status$t" 1
fi
before=$(jq -r '.current | join(",")' <<<"$mst")
rb_info "database at revision ${before:-<none>}"

# 4. migrate with the new image, then move api and workers together
step "4/5 deploy update --migrate --image $tag"
set +e
rb_change deploy update --image "$tag" --migrate --no-backup --timeout "$timeout"
rc=$?
set -e
if [[ $rc -ne 0 ]]; then
  [[ $rc -ne 130 ]] || state "interrupted during the update" "kubectl piyasa deploy status$t; kubectl piyasa migrate status$t" 130
  mst=$(rb_json migrate status 2>/dev/null) || true
  now=$(jq -r '.current // [] | join(",")' <<<"$mst" 2>/dev/null || true)
  failed=$(jq -r '.lastFailed.name // ""' <<<"$mst" 2>/dev/null || true)
  if [[ -n $failed || $now == "$before" ]]; then
    state "the migration failed${failed:+ (Job $failed, kept with its log)}; the images were not changed; the database is at ${now:-an unknown revision} (was ${before:-none})" \
      "kubectl logs job/${failed:-<the migration Job>} -n $(jq -r '.namespace // "NS"' <<<"$mst" 2>/dev/null || echo NS); to put the database back: kubectl piyasa backup restore $loc$t" 1
  fi
  state "the rollout of $tag failed after the migration; the images were rolled back, but the schema is now at $now, ahead of the old image (was ${before:-none})" \
    "kubectl piyasa migrate down --to ${before:-base}$t, or restore the backup: kubectl piyasa backup restore $loc$t" 1
fi

# 5. diagnose after
step "5/5 diagnose after the release"
$RB_DRY_RUN && { printf 'would run: %s\n' "$(rb_quote "${RB_PIYASA[@]}" diagnose "${RB_TARGET[@]}")"; exit 0; }
set +e
rb_piyasa diagnose >&2
rc=$?
set -e
[[ $rc -eq 0 ]] || state "released $tag, but diagnose finds problems (exit $rc)" "kubectl piyasa diagnose$t; roll back with: kubectl piyasa deploy rollback$t (the schema stays migrated)" "$rc"
echo "release: OK $tag (backup $loc)"
