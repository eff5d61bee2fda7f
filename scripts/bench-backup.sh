#!/usr/bin/env bash
# bench-backup.sh: throughput and peak memory of `kubectl piyasa backup create`
# and `restore`, against the raw exec stream in the same run on the same
# database. A benchmark, not a test: it prints a table.
#
#   scripts/bench-backup.sh        start cluster piyasa-bench-backup and a PostgreSQL, fill, measure, delete
#
# Environment: SIZE_MB (default 200: the approximate plain dump size), RUNS
# (default 2; the best run is reported), NAME (cluster name).
# Needs: Debian's postgresql (initdb, pg_ctl, pg_dump, psql), /usr/bin/time, gzip.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
# shellcheck source=scripts/cp-versions.sh
. "$here/cp-versions.sh"
SIZE_MB=${SIZE_MB:-200}
RUNS=${RUNS:-2}
NAME=${NAME:-piyasa-bench-backup}
NS=bench-backup
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
[ -x "$PGBIN/initdb" ] || { echo "bench-backup: PostgreSQL is needed (apt-get install postgresql)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "bench-backup: /usr/bin/time is needed (apt-get install time)" >&2; exit 2; }

work=$(mktemp -d)
chmod 755 "$work"
PGDATA_DIR=$work/pg
PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PGPASS=bench-$RANDOM$RANDOM
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  "$here/cluster.sh" down "$NAME" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "bench: building kubectl-piyasa and kubectl-piyasa-backup" >&2
mkdir -p "$work/bin"
(cd "$root" && go build -o "$work/bin/kubectl-piyasa-backup" ./plugins/backup && go build -o "$work/bin/kubectl-piyasa" ./plugins/piyasa)
export PATH=$work/bin:$PATH:$CP_BIN

echo "bench: starting PostgreSQL on 127.0.0.1:$PGPORT" >&2
mkdir -p "$PGDATA_DIR"; echo "$PGPASS" > "$PGDATA_DIR/pw"
[ "$(id -u)" = 0 ] && chown -R postgres "$PGDATA_DIR"
as_pg "$PGBIN/initdb" -D "$PGDATA_DIR/data" -U piyasa_user --pwfile "$PGDATA_DIR/pw" -A scram-sha-256 --no-sync >/dev/null
as_pg "$PGBIN/pg_ctl" -D "$PGDATA_DIR/data" -o "-p $PGPORT -c listen_addresses=127.0.0.1 -k $PGDATA_DIR -c fsync=off -c synchronous_commit=off" -l "$PGDATA_DIR/log" -w start >/dev/null
export PGHOST=127.0.0.1 PGPORT PGUSER=piyasa_user PGPASSWORD=$PGPASS
"$PGBIN/psql" -X -q -d postgres -c "CREATE DATABASE piyasa_db"
rows=$(( SIZE_MB * 1024 * 1024 / 220 ))
echo "bench: seeding ~${SIZE_MB} MB ($rows rows)" >&2
"$PGBIN/psql" -X -q -d piyasa_db -c "CREATE TABLE messages (id bigserial PRIMARY KEY, user_id int, body text, payload bytea, created timestamptz);
  INSERT INTO messages (user_id, body, payload, created) SELECT g % 5000, md5(g::text) || ' мир 世界 ' || md5((g*3)::text) || repeat(' kelime', 8),
    sha256(g::text::bytea), timestamptz '2026-01-01' + g * interval '1 second' FROM generate_series(1, $rows) g;"

echo "bench: starting cluster $NAME" >&2
export KUBECONFIG=$("$here/cluster.sh" up "$NAME" | tail -n1)
K="$CP_BIN/kubectl"
"$K" create namespace "$NS" >/dev/null
"$K" apply -n "$NS" -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata: {name: dev-postgres}
spec:
  replicas: 1
  selector: {matchLabels: {app: postgres}}
  template:
    metadata: {labels: {app: postgres}}
    spec: {containers: [{name: postgres, image: postgres:16-alpine}]}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterExec
metadata: {name: bench-backup}
spec:
  selector: {matchNamespaces: [$NS]}
  execs:
  - local:
      workDir: $work
      envs:
      - {name: PGHOST, value: "127.0.0.1"}
      - {name: PGPORT, value: "$PGPORT"}
      - {name: POSTGRES_PASSWORD, value: "$PGPASS"}
      - {name: PATH, value: "$PGBIN:/usr/bin:/bin"}
      - {name: TMPDIR, value: "$work"}
YAML
"$K" wait -n "$NS" --for=condition=available deploy/dev-postgres --timeout=60s >/dev/null
POD=$("$K" get pods -n "$NS" -l app=postgres -o name | head -n1)
until "$K" exec -n "$NS" "$POD" -- sh -c 'echo ok' >/dev/null 2>&1; do sleep 0.5; done

DUMP="pg_dump --no-owner --no-acl --clean --if-exists -U piyasa_user piyasa_db"
RAW=$(PGPASSWORD=$PGPASS "$PGBIN/pg_dump" --no-owner --no-acl --clean --if-exists piyasa_db | wc -c)
# best SECONDS RSS_KB over RUNS runs of a command (bash -c), measured by /usr/bin/time
measure() {
  local best="" rss=0 s kb
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f '%e %M' -o "$work/t" bash -c "$1" >/dev/null 2>"$work/err" || { cat "$work/err" >&2; return 1; }
    read -r s kb < "$work/t"
    if [ -z "$best" ] || awk "BEGIN{exit !($s < $best)}"; then best=$s; rss=$kb; fi
    rm -f "$work"/out/* 2>/dev/null || true
  done
  echo "$best $rss"
}
mkdir -p "$work/out"
row() { # label seconds rss_kb
  awk -v l="$1" -v s="$2" -v k="$3" -v raw="$RAW" 'BEGIN { printf "| %-52s | %7.2f s | %8.1f MB/s | %8.1f MiB |\n", l, s, raw/1e6/s, k/1024 }'
}
echo
echo "plain dump: $RAW bytes ($(( RAW / 1024 / 1024 )) MiB), $RUNS runs each, best shown"
echo "| command | time | throughput (plain dump) | peak RSS (client) |"
echo "|---|---|---|---|"
read -r s k < <(measure "PGPASSWORD=$PGPASS $PGBIN/pg_dump --no-owner --no-acl --clean --if-exists piyasa_db > /dev/null"); row "pg_dump > /dev/null (local)" "$s" "$k"
read -r s k < <(measure "$K exec -n $NS $POD -- sh -c 'PGPASSWORD=\$POSTGRES_PASSWORD $DUMP' > /dev/null"); row "kubectl exec ... pg_dump > /dev/null (raw exec stream)" "$s" "$k"
read -r s k < <(measure "$K exec -n $NS $POD -- sh -c 'PGPASSWORD=\$POSTGRES_PASSWORD $DUMP' | gzip > $work/out/g.sql.gz"); row "kubectl exec ... pg_dump | gzip (the guide's recipe)" "$s" "$k"
for c in zstd gzip none; do
  read -r s k < <(measure "kubectl-piyasa-backup create -n $NS --env dev --dir $work/out --compress $c"); row "backup create --compress $c" "$s" "$k"
done
# pg_dump compressing in the pod (-Z 1: gzip, the one method of pg_dump 15's plain format;
# --compress-in-pod zstd needs pg_dump 16): stored as it comes, or recompressed by the client
for c in gzip zstd; do
  read -r s k < <(measure "kubectl-piyasa-backup create -n $NS --env dev --dir $work/out --compress $c --compress-in-pod gzip"); row "backup create --compress $c --compress-in-pod gzip" "$s" "$k"
done
# age encryption on top of zstd (a public key only: nothing is decrypted here)
AGE_TO=age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
read -r s k < <(measure "kubectl-piyasa-backup create -n $NS --env dev --dir $work/out --compress zstd --encrypt-to $AGE_TO"); row "backup create --compress zstd --encrypt-to age1..." "$s" "$k"
kubectl-piyasa-backup create -n "$NS" --env dev -f "$work/r.sql.zst" >/dev/null
i=0
read -r s k < <(measure "i=\$RANDOM; kubectl-piyasa-backup restore -n $NS --env dev $work/r.sql.zst --to-database r_\$i >/dev/null")
row "backup restore --to-database (zstd, checked)" "$s" "$k"
"$PGBIN/psql" -X -q -d postgres -c "CREATE DATABASE rawr" >/dev/null
zstd -dc "$work/r.sql.zst" > "$work/r.sql"
read -r s k < <(measure "PGPASSWORD=$PGPASS $PGBIN/psql -X -q -d postgres -c 'DROP DATABASE IF EXISTS rawr' -c 'CREATE DATABASE rawr' >/dev/null; $K exec -i -n $NS $POD -- sh -c 'head -c $RAW | PGPASSWORD=\$POSTGRES_PASSWORD psql -X -q -U piyasa_user -d rawr -v ON_ERROR_STOP=1 --single-transaction >/dev/null' < $work/r.sql")
row "kubectl exec -i ... psql < dump (plain, framed)" "$s" "$k"
