#!/usr/bin/env bash
# Resolve benchmark, side by side in one run on this machine:
#  1. pgbench running the SQL of an already-linked resolve (select by auth_id + audit insert)
#  2. wrk against `identity-link serve` resolving already-linked identities
#  3. provisioning: wrk resolving identities no user is linked to yet, served by the
#     fake Kratos (examples/fake_kratos.rs) on loopback, and wrk against that fake
#     alone (Kratos's own latency)
# Usage: scripts/bench-resolve.sh   (env: PGURL, USERS, CONNECTIONS, DURATION)
set -euo pipefail
cd "$(dirname "$0")/.."

PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
DB=identity_link_bench_resolve
USERS=${USERS:-100000}
IDENTITIES=10000000
CONNECTIONS=${CONNECTIONS:-32}
DURATION=${DURATION:-20s}
PORT=18181
KRATOS_PORT=14434
IDS=/tmp/identity-link-bench-ids.txt
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/identity-link-target}
export BENCH_USERS=$USERS BENCH_IDENTITIES=$IDENTITIES BENCH_IDS=$IDS

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v pgbench >/dev/null || { echo "pgbench is needed (Debian: postgresql-client)"; exit 2; }

cargo build --release --quiet --bin identity-link --example fake_kratos
BIN=$CARGO_TARGET_DIR/release/identity-link
FAKE=$CARGO_TARGET_DIR/release/examples/fake_kratos

psql "$PGURL/postgres" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" -c "CREATE DATABASE $DB"
DATABASE_URL="$PGURL/$DB" LOG_FORMAT=json RUST_LOG=warn "$BIN" migrate >/dev/null
psql "$PGURL/$DB" -q <<SQL
INSERT INTO users (id, email, first_name, last_name, auth_id, linked_at)
SELECT gen_random_uuid(), 'user' || n || '@example.com', 'User', n::text,
       ('1d000000-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid, now()
  FROM generate_series(0, $USERS - 1) AS n;
ANALYZE users;
SQL
psql "$PGURL/$DB" -qAtc "SELECT auth_id FROM users" > "$IDS"

"$FAKE" --identities $IDENTITIES --port $KRATOS_PORT >/dev/null &
KRATOS_PID=$!
DATABASE_URL="$PGURL/$DB" KRATOS_ADMIN_URL=http://127.0.0.1:$KRATOS_PORT LISTEN_ADDR=127.0.0.1:$PORT \
  LOG_FORMAT=json RUST_LOG=warn "$BIN" serve &
SERVER_PID=$!
trap 'kill $SERVER_PID $KRATOS_PID 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do curl -fs http://127.0.0.1:$PORT/health/ready >/dev/null && break; sleep 0.2; done

# Each phase starts from the same state: earlier phases' autovacuum and
# checkpoint work is done before it, not during it.
settle() { psql "$PGURL/$DB" -qc "VACUUM ANALYZE" -c "CHECKPOINT"; }

echo "== machine: $(nproc) cores, $(uname -r); Postgres $(psql "$PGURL/$DB" -qAtc 'SHOW server_version')"
settle
echo "== 1. pgbench: select by auth_id + audit insert, $CONNECTIONS clients, $DURATION"
pgbench -n -M prepared -c "$CONNECTIONS" -j 2 -T "${DURATION%s}" -D users="$USERS" \
  -f scripts/bench/pgbench_resolve.sql "$PGURL/$DB" 2>&1 | grep -E 'latency average|tps ='

settle
echo "== 2. identity-link resolve (already linked), $CONNECTIONS connections, $DURATION"
wrk -t2 -c "$CONNECTIONS" -d "$DURATION" --latency -s scripts/bench/resolve_linked.lua \
  http://127.0.0.1:$PORT/rest/internal/identity/resolve | grep -E 'Requests/sec|Non-2xx|  50%|  99%|Latency '

settle
echo "== 3a. the fake Kratos alone (GET /admin/identities/{id}), 8 connections, 10s"
wrk -t2 -c 8 -d 10s --latency -s scripts/bench/kratos_get.lua http://127.0.0.1:$KRATOS_PORT \
  | grep -E 'Requests/sec|  50%|  99%'
echo "== 3b. identity-link resolve (provisioning identities without a user), 8 connections, 10s"
wrk -t2 -c 8 -d 10s --latency -s scripts/bench/resolve_new.lua \
  http://127.0.0.1:$PORT/rest/internal/identity/resolve | grep -E 'Requests/sec|Non-2xx|  50%|  99%'
echo "== users after provisioning: $(psql "$PGURL/$DB" -qAtc 'SELECT count(*) FROM users')"
