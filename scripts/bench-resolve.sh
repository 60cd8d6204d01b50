#!/usr/bin/env bash
# Resolve benchmark, side by side in one run on this machine:
#  1. pgbench running the SQL of an already-linked resolve (select by auth_id + audit insert)
#  2. wrk against `identity-link serve` resolving already-linked identities
#  3. provisioning: wrk resolving fresh ids against a loopback Kratos stand-in,
#     and wrk against that stand-in alone (its own latency)
# Usage: scripts/bench-resolve.sh   (env: PGURL, USERS, CONNECTIONS, DURATION, KRATOS_DELAY_MS)
set -euo pipefail
cd "$(dirname "$0")/.."

PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
DB=identity_link_bench_resolve
USERS=${USERS:-100000}
CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-20s}
KRATOS_DELAY_MS=${KRATOS_DELAY_MS:-0}
PORT=18181
KRATOS_PORT=14434
IDS=/tmp/identity-link-bench-ids.txt
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/identity-link-target}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v pgbench >/dev/null || { echo "pgbench is needed (Debian: postgresql-client)"; exit 2; }

cargo build --release --quiet
BIN=$CARGO_TARGET_DIR/release/identity-link

psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
DATABASE_URL="$PGURL/$DB" LOG_FORMAT=json RUST_LOG=warn "$BIN" migrate >/dev/null
psql "$PGURL/$DB" -q <<SQL
INSERT INTO users (id, email, first_name, last_name, auth_id, linked_at)
SELECT gen_random_uuid(), 'user' || n || '@bench.example.com', 'Bench', 'User',
       md5('bench-' || n)::uuid, now()
  FROM generate_series(1, $USERS) AS n;
ANALYZE users;
SQL
psql "$PGURL/$DB" -qAtc "SELECT auth_id FROM users" > "$IDS"

python3 scripts/bench/kratos_by_id.py $KRATOS_PORT "$KRATOS_DELAY_MS" &
KRATOS_PID=$!
DATABASE_URL="$PGURL/$DB" KRATOS_ADMIN_URL=http://127.0.0.1:$KRATOS_PORT LISTEN_ADDR=127.0.0.1:$PORT \
  LOG_FORMAT=json RUST_LOG=warn "$BIN" serve &
SERVER_PID=$!
trap 'kill $SERVER_PID $KRATOS_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -fs http://127.0.0.1:$PORT/health/live >/dev/null && break; sleep 0.2; done

echo "== machine: $(nproc) cores, $(uname -r); Postgres $(psql "$PGURL/$DB" -qAtc 'SHOW server_version')"
echo "== 1. pgbench: select by auth_id + audit insert, $CONNECTIONS clients, $DURATION"
pgbench -n -M prepared -c "$CONNECTIONS" -j 2 -T "${DURATION%s}" -D users="$USERS" \
  -f scripts/bench/pgbench_resolve.sql "$PGURL/$DB" 2>&1 | grep -E 'latency average|tps ='

echo "== 2. identity-link resolve (already linked), $CONNECTIONS connections, $DURATION"
BENCH_IDS=$IDS wrk -t2 -c "$CONNECTIONS" -d "$DURATION" --latency -s scripts/bench/resolve_linked.lua \
  http://127.0.0.1:$PORT/rest/internal/identity/resolve | grep -E 'Requests/sec|Non-2xx|  50%|  99%|Latency '

echo "== 3a. Kratos stand-in alone, 8 connections, 10s"
wrk -t2 -c 8 -d 10s --latency -s scripts/bench/kratos_get.lua http://127.0.0.1:$KRATOS_PORT \
  | grep -E 'Requests/sec|  50%|  99%'
echo "== 3b. identity-link resolve (provisioning fresh identities), 8 connections, 10s"
wrk -t2 -c 8 -d 10s --latency -s scripts/bench/resolve_new.lua \
  http://127.0.0.1:$PORT/rest/internal/identity/resolve | grep -E 'Requests/sec|Non-2xx|  50%|  99%'
echo "== users after provisioning: $(psql "$PGURL/$DB" -qAtc 'SELECT count(*) FROM users')"
