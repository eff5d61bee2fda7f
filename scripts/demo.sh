#!/usr/bin/env bash
# demo.sh: the suite's main job on the local demo cluster. Builds nothing
# itself (make demo builds first); starts the cluster "piyasa" if it is not
# running, then deploys the app's dev overlay with a fresh .env, shows its
# status, scales the workers and runs diagnose, all through `kubectl piyasa`.
# When a PostgreSQL server is installed (Debian's postgresql package), it
# starts one on loopback for the demo database and maps the dev namespace's
# pod exec to local commands (a kwok ClusterExec, as test/harness does), then
# shows the database procedures: backup create, backup verify --restore-test,
# migrate status and backup list. `scripts/demo.sh stop-postgres` (run by
# make cluster-down) stops that server.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/scripts/cp-versions.sh"
export PATH=$root/bin:$PATH:$CP_BIN
kc=$CP_CACHE/clusters/piyasa.kubeconfig
pgdir=${TMPDIR:-/tmp}/kubectl-piyasa-demo-postgres # not under ~/.cache: the postgres account reads it
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
# as_pg runs a server command as the postgres account when we are root (the server refuses root).
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
stop_postgres() {
  if [ -n "$pgbin" ] && [ -f "$pgdir/data/postmaster.pid" ]; then
    as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$pgdir"
}
if [ "${1-}" = stop-postgres ]; then stop_postgres; exit 0; fi
if ! KUBECONFIG=$kc kubectl get --raw /readyz >/dev/null 2>&1; then
  kc=$("$root/scripts/cluster.sh" up piyasa)
fi
export KUBECONFIG=$kc
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
step() { printf '\n\033[1m$ %s\033[0m\n' "$*"; "$@"; }

step kubectl piyasa version
step kubectl piyasa deploy init-env -f "$work/.env"
step kubectl piyasa deploy --env dev --env-file "$work/.env" --timeout 3m
step kubectl piyasa deploy status --env dev
step kubectl piyasa scale worker 3 --env dev
step kubectl piyasa scale status --env dev
step kubectl piyasa diagnose --env dev || true

# The database procedures need a database: a local PostgreSQL server plays the postgres pod.
if [ -z "$pgbin" ]; then
  printf '\nSkipped backup create/verify/list and migrate status: no PostgreSQL server here (apt-get install postgresql, then make demo again).\n'
else
  ns=$(kubectl get ns -o name | sed -n 's#^namespace/\(.*-dev\)$#\1#p' | head -1)
  user=$(kubectl get configmap -n "$ns" dev-piyasa-config -o jsonpath='{.data.DATABASE_USER}')
  db=$(kubectl get configmap -n "$ns" dev-piyasa-config -o jsonpath='{.data.DATABASE_NAME}')
  stop_postgres
  mkdir -p "$pgdir"
  # The password the demo's .env gave the app (never printed).
  sed -n 's/^DATABASE_PASSWORD=//p' "$work/.env" | tr -d '"' > "$pgdir/pwfile"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  [ "$(id -u)" = 0 ] && chown -R postgres: "$pgdir"
  printf '\n\033[1m# a local PostgreSQL (%s) on 127.0.0.1:%s plays pod postgres of %s\033[0m\n' "$pgbin" "$port" "$ns"
  as_pg "$pgbin/initdb" -D "$pgdir/data" -U "$user" --pwfile "$pgdir/pwfile" -A scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  as_pg "$pgbin/pg_ctl" -D "$pgdir/data" -o "-p $port -c listen_addresses=127.0.0.1 -k $pgdir -c fsync=off" -l "$pgdir/log" -w -t 60 start >/dev/null
  PGPASSWORD=$(cat "$pgdir/pwfile") "$pgbin/psql" -h 127.0.0.1 -p "$port" -U "$user" -d postgres -qc "CREATE DATABASE $db" >/dev/null
  PGPASSWORD=$(cat "$pgdir/pwfile") "$pgbin/psql" -h 127.0.0.1 -p "$port" -U "$user" -d "$db" -qc \
    "CREATE TABLE demo_messages (id serial PRIMARY KEY, body text); INSERT INTO demo_messages (body) SELECT 'message ' || g FROM generate_series(1, 1000) g" >/dev/null
  mkdir -p "$pgdir/exec"
  [ "$(id -u)" = 0 ] && chown postgres: "$pgdir/exec"
  pw=$(cat "$pgdir/pwfile")
  kubectl apply -f - >/dev/null <<YAML
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterExec
metadata:
  name: demo-postgres
spec:
  selector:
    matchNamespaces: ["$ns"]
  execs:
  - local:
      workDir: "$pgdir/exec"
      envs:
        - {name: PGHOST, value: "127.0.0.1"}
        - {name: PGPORT, value: "$port"}
        - {name: POSTGRES_USER, value: "$user"}
        - {name: POSTGRES_PASSWORD, value: "$pw"}
        - {name: PATH, value: "$pgbin:/usr/local/bin:/usr/bin:/bin"}
        - {name: TMPDIR, value: "$pgdir/exec"}
YAML
  unset pw
  backups=$work/backups
  step kubectl piyasa backup create --env dev --dir "$backups"
  step kubectl piyasa backup verify --env dev "$(ls "$backups"/*.sql.zst | head -1)" --restore-test || true
  # migrate status asks alembic in the api pod; the demo's api image is not there (kwok plays it),
  # so it says what it could not read: the real app answers with its revision.
  step kubectl piyasa migrate status --env dev || true
  step kubectl piyasa backup list --env dev --dir "$backups"
fi
printf '\nThe cluster keeps running: export KUBECONFIG=%s (make cluster-down stops it).\n' "$kc"
