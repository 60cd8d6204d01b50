#!/usr/bin/env bash
# Resolve benchmark, side by side in one run on this machine:
#  1. pgbench running the SQL of an already-linked resolve (select by auth_id + audit insert)
#  2. wrk against `identity-link serve` resolving already-linked identities:
#     a. statement cache on (the default), b. DATABASE_STATEMENT_CACHE=false,
#     c. through PgBouncer in transaction pooling mode (statement cache off,
#        DATABASE_DIRECT_URL straight to Postgres)
#     d. with spans exported over OTLP to a local receiver (scripts/bench/otlp_sink.py)
#  3. provisioning: wrk resolving identities no user is linked to yet, served by the
#     fake Kratos (examples/fake_kratos.rs) on loopback, and wrk against that fake
#     alone (Kratos's own latency)
#  4. latency at a light load (LIGHT connections, default 4): pgbench and the
#     already-linked resolve (cache on, off, through PgBouncer), then the fake
#     Kratos alone and provisioning
# pgbench's percentiles are computed from its per-transaction log.
# Usage: scripts/bench-resolve.sh   (env: PGURL, USERS, CONNECTIONS, LIGHT, DURATION, BOUNCER_POOL)
set -euo pipefail
cd "$(dirname "$0")/.."

PGURL=${PGURL:-postgres://postgres@127.0.0.1:5432}
DB=identity_link_bench_resolve
USERS=${USERS:-100000}
IDENTITIES=10000000
CONNECTIONS=${CONNECTIONS:-32}
LIGHT=${LIGHT:-4}
DURATION=${DURATION:-20s}
PORT=18181
PORT_UNCACHED=18182
PORT_BOUNCED=18183
PORT_EXPORTING=18184
OTLP_PORT=14318
BOUNCER_PORT=16432
BOUNCER_POOL=${BOUNCER_POOL:-16}
KRATOS_PORT=14434
IDS=/tmp/identity-link-bench-ids.txt
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/identity-link-target}
export BENCH_USERS=$USERS BENCH_IDENTITIES=$IDENTITIES BENCH_IDS=$IDS

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v pgbench >/dev/null || { echo "pgbench is needed (Debian: postgresql-client)"; exit 2; }
PGBOUNCER=$(command -v pgbouncer || echo /usr/sbin/pgbouncer)
[ -x "$PGBOUNCER" ] || { apt-get update -qq && apt-get install -y -qq pgbouncer >/dev/null; }

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

# PgBouncer in transaction pooling mode in front of the same server (phase 2c);
# it refuses to run as root.
PG_USER=${PGURL#*://}; PG_USER=${PG_USER%@*}
PG_HOSTPORT=${PGURL##*@}; PG_HOST=${PG_HOSTPORT%:*}; PG_PORT=${PG_HOSTPORT##*:}
BOUNCER_DIR=$(mktemp -d /tmp/identity-link-bench-pgbouncer.XXXXXX)
cat > "$BOUNCER_DIR/pgbouncer.ini" <<INI
[databases]
* = host=$PG_HOST port=$PG_PORT
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $BOUNCER_PORT
unix_socket_dir =
auth_type = trust
auth_file = $BOUNCER_DIR/userlist.txt
pool_mode = transaction
max_client_conn = 1000
default_pool_size = $BOUNCER_POOL
ignore_startup_parameters = extra_float_digits,options
logfile = $BOUNCER_DIR/pgbouncer.log
INI
echo "\"$PG_USER\" \"\"" > "$BOUNCER_DIR/userlist.txt"
chmod 777 "$BOUNCER_DIR"; chmod 644 "$BOUNCER_DIR"/*
if [ "$(id -u)" -eq 0 ]; then
  runuser -u postgres -- "$PGBOUNCER" -q "$BOUNCER_DIR/pgbouncer.ini" >/dev/null 2>&1 &
else
  "$PGBOUNCER" -q "$BOUNCER_DIR/pgbouncer.ini" >/dev/null 2>&1 &
fi
BOUNCER_PID=$!

"$FAKE" --identities $IDENTITIES --port $KRATOS_PORT >/dev/null &
KRATOS_PID=$!
serve() { # port, then extra environment
  local port=$1; shift
  env DATABASE_URL="$PGURL/$DB" KRATOS_ADMIN_URL=http://127.0.0.1:$KRATOS_PORT \
    LISTEN_ADDR=127.0.0.1:$port LOG_FORMAT=json RUST_LOG=warn NO_MIGRATE=true "$@" "$BIN" serve &
}
serve $PORT
SERVER_PID=$!
serve $PORT_UNCACHED DATABASE_STATEMENT_CACHE=false
UNCACHED_PID=$!
serve $PORT_BOUNCED DATABASE_URL="postgres://$PG_USER@127.0.0.1:$BOUNCER_PORT/$DB" \
  DATABASE_DIRECT_URL="$PGURL/$DB" DATABASE_STATEMENT_CACHE=false
BOUNCED_PID=$!
python3 scripts/bench/otlp_sink.py $OTLP_PORT &
SINK_PID=$!
serve $PORT_EXPORTING OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$OTLP_PORT
EXPORTING_PID=$!
trap 'kill $SERVER_PID $UNCACHED_PID $BOUNCED_PID $EXPORTING_PID $SINK_PID $KRATOS_PID $BOUNCER_PID 2>/dev/null || true; rm -rf "$BOUNCER_DIR"' EXIT
for port in $PORT $PORT_UNCACHED $PORT_BOUNCED $PORT_EXPORTING; do
  for _ in $(seq 1 50); do curl -fs http://127.0.0.1:$port/health/ready >/dev/null && break; sleep 0.2; done
  curl -fs http://127.0.0.1:$port/health/ready >/dev/null || { echo "serve on $port is not ready"; exit 1; }
done

# Each phase starts from the same state: earlier phases' autovacuum and
# checkpoint work is done before it, not during it.
settle() { psql "$PGURL/$DB" -qc "VACUUM ANALYZE" -c "CHECKPOINT"; }

echo "== machine: $(nproc) cores, $(uname -r); Postgres $(psql "$PGURL/$DB" -qAtc 'SHOW server_version')"
settle
pgbench_resolve() { # clients [protocol]: throughput, then p50/p99 from the per-transaction log
  local logs; logs=$(mktemp -d)
  (cd "$logs" && pgbench -n -M "${2:-prepared}" -c "$1" -j 2 -T "${DURATION%s}" -D users="$USERS" -l \
    -f "$OLDPWD/scripts/bench/pgbench_resolve.sql" "$PGURL/$DB" 2>&1) | grep -E 'latency average|tps ='
  cat "$logs"/pgbench_log.* | awk '{print $3}' | sort -n | awk '{v[NR] = $1}
    END {printf "    pgbench latency p50 %.2fms p99 %.2fms (%d transactions)\n",
         v[int(NR * 0.50)] / 1000, v[int(NR * 0.99)] / 1000, NR}'
  rm -rf "$logs"
}
echo "== 1a. pgbench: select by auth_id + audit insert, prepared statements, $CONNECTIONS clients, $DURATION"
pgbench_resolve "$CONNECTIONS"
settle
echo "== 1b. the same as unnamed statements (-M extended, as without the statement cache), $CONNECTIONS clients, $DURATION"
pgbench_resolve "$CONNECTIONS" extended

resolve_linked() { # port [connections]
  wrk -t2 -c "${2:-$CONNECTIONS}" -d "$DURATION" --latency -s scripts/bench/resolve_linked.lua \
    "http://127.0.0.1:$1/rest/internal/identity/resolve" | grep -E 'Requests/sec|Non-2xx|  50%|  99%|Latency '
}
settle
echo "== 2a. identity-link resolve (already linked), $CONNECTIONS connections, $DURATION"
resolve_linked $PORT
settle
echo "== 2b. the same, DATABASE_STATEMENT_CACHE=false, $CONNECTIONS connections, $DURATION"
resolve_linked $PORT_UNCACHED
settle
echo "== 2c. the same through PgBouncer (transaction mode, pool $BOUNCER_POOL, statement cache off), $CONNECTIONS connections, $DURATION"
resolve_linked $PORT_BOUNCED
settle
echo "== 2d. the same with spans exported over OTLP to a local receiver, $CONNECTIONS connections, $DURATION"
resolve_linked $PORT_EXPORTING

settle
echo "== 3a. the fake Kratos alone (GET /admin/identities/{id}), 8 connections, 10s"
wrk -t2 -c 8 -d 10s --latency -s scripts/bench/kratos_get.lua http://127.0.0.1:$KRATOS_PORT \
  | grep -E 'Requests/sec|  50%|  99%'
echo "== 3b. identity-link resolve (provisioning identities without a user), 8 connections, 10s"
wrk -t2 -c 8 -d 10s --latency -s scripts/bench/resolve_new.lua \
  http://127.0.0.1:$PORT/rest/internal/identity/resolve | grep -E 'Requests/sec|Non-2xx|  50%|  99%'
echo "== users after provisioning: $(psql "$PGURL/$DB" -qAtc 'SELECT count(*) FROM users')"

settle
echo "== 4a. light load: pgbench, $LIGHT clients, $DURATION"
pgbench_resolve "$LIGHT"
settle
echo "== 4b. light load: identity-link resolve (already linked), $LIGHT connections, $DURATION"
resolve_linked $PORT "$LIGHT"
settle
echo "== 4b'. light load: pgbench -M extended, $LIGHT clients, $DURATION"
pgbench_resolve "$LIGHT" extended
settle
echo "== 4b''. light load: resolve without the statement cache, then through PgBouncer, $LIGHT connections, $DURATION"
resolve_linked $PORT_UNCACHED "$LIGHT"
resolve_linked $PORT_BOUNCED "$LIGHT"
echo "== 4c. light load: the fake Kratos alone, $LIGHT connections, 10s"
wrk -t2 -c "$LIGHT" -d 10s --latency -s scripts/bench/kratos_get.lua http://127.0.0.1:$KRATOS_PORT \
  | grep -E 'Requests/sec|  50%|  99%'
settle
echo "== 4d. light load: provisioning, $LIGHT connections, 10s"
wrk -t2 -c "$LIGHT" -d 10s --latency -s scripts/bench/resolve_new.lua \
  http://127.0.0.1:$PORT/rest/internal/identity/resolve | grep -E 'Requests/sec|Non-2xx|  50%|  99%'
