#!/usr/bin/env bash
# Benchmarks `identity-link reconcile` on N users and N identities:
# a release build, the fake Kratos (examples/fake_kratos.rs) on loopback and a
# fresh database on the Postgres at 127.0.0.1:5432 (user postgres, trust auth).
# When the binary has a `backfill` command, a backfill of the same size is timed
# too, on a database of its own, for comparison.
#
# usage: scripts/bench-reconcile.sh [N=100000] [PAGE_DELAY_MS=0]
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-100000}
PAGE_DELAY_MS=${2:-0}
PG="postgres://postgres@127.0.0.1:5432"
DB="identity_link_bench_reconcile_$$"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/identity-link-target}"
BIN="$CARGO_TARGET_DIR/release/identity-link"
FAKE="$CARGO_TARGET_DIR/release/examples/fake_kratos"
WORK=$(mktemp -d)
FAKE_PID=""

cleanup() {
  [ -z "$FAKE_PID" ] || kill "$FAKE_PID" 2>/dev/null || true
  dropdb -h 127.0.0.1 -U postgres --if-exists "$DB" 2>/dev/null || true
  dropdb -h 127.0.0.1 -U postgres --if-exists "${DB}_backfill" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '==> %s\n' "$*" >&2; }
sql() { psql -h 127.0.0.1 -U postgres -d "$1" -v ON_ERROR_STOP=1 -qAt -c "$2"; }

say "release build"
cargo build --release --quiet --bin identity-link --example fake_kratos

say "fake Kratos with $N identities (page delay ${PAGE_DELAY_MS} ms)"
"$FAKE" --identities "$N" --port 0 --page-delay-ms "$PAGE_DELAY_MS" >"$WORK/fake.out" 2>&1 &
FAKE_PID=$!
for _ in $(seq 50); do grep -q 'http://' "$WORK/fake.out" && break; sleep 0.1; done
KRATOS=$(grep -o 'http://[0-9.:]*' "$WORK/fake.out")
stats() { curl -fsS "$KRATOS/fake/stats"; }

# Identity n is 1d000000-0000-4000-8000-<n in 12 hex digits>, email user{n}@example.com,
# names User / n. Users: one per identity, in sync, except every 100th identity
# left without a user (unlinked), every 100th+1 user with a changed last name
# (drift), and N/1000 users linked to identities that do not exist (orphans).
identity_id="('1d000000-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid"
say "database $DB: migrating and seeding"
createdb -h 127.0.0.1 -U postgres "$DB"
"$BIN" --database-url "$PG/$DB" --log-format json migrate >/dev/null 2>"$WORK/migrate.log"
sql "$DB" "
  INSERT INTO users (id, email, first_name, last_name, auth_id, linked_at)
  SELECT gen_random_uuid(), 'user' || n || '@example.com', 'User',
         CASE WHEN n % 100 = 1 THEN 'Drifted' ELSE n::text END,
         $identity_id, now() - interval '1 day'
    FROM generate_series(0, $N - 1) AS n
   WHERE n % 100 <> 0;
  INSERT INTO users (id, email, first_name, last_name, auth_id, linked_at)
  SELECT gen_random_uuid(), 'orphan' || n || '@example.com', 'Or', 'Phan',
         $identity_id, now() - interval '1 day'
    FROM generate_series($N, $N + $N / 1000 - 1) AS n;"
sql "$DB" "VACUUM ANALYZE users"
USERS=$(sql "$DB" "SELECT count(*) FROM users")

say "reconcile: $N identities, $USERS users"
before=$(stats | jq .list_calls)
/usr/bin/time -f '%e %M' -o "$WORK/time" \
  "$BIN" --database-url "$PG/$DB" --kratos-admin-url "$KRATOS" --log-format json \
  reconcile --format json >"$WORK/report.json" 2>"$WORK/reconcile.log"
read -r seconds max_rss_kb <"$WORK/time"
list_calls=$(( $(stats | jq .list_calls) - before ))
max_calls=$(( (N + 499) / 500 + 1 ))
jq -c '.counts' "$WORK/report.json"
printf 'reconcile: %s s wall, %s MiB max RSS, %s Kratos list calls (limit %s)\n' \
  "$seconds" "$((max_rss_kb / 1024))" "$list_calls" "$max_calls"
[ "$list_calls" -le "$max_calls" ] || { echo "too many Kratos list calls" >&2; exit 1; }

if "$BIN" backfill --help >/dev/null 2>&1; then
  say "backfill of the same size, for comparison"
  createdb -h 127.0.0.1 -U postgres "${DB}_backfill"
  "$BIN" --database-url "$PG/${DB}_backfill" --log-format json migrate >/dev/null 2>"$WORK/migrate.log"
  sql "${DB}_backfill" "
    INSERT INTO users (id, email, first_name, last_name)
    SELECT gen_random_uuid(), 'user' || n || '@example.com', 'User', n::text
      FROM generate_series(0, $N - 1) AS n;"
  sql "${DB}_backfill" "VACUUM ANALYZE users"
  /usr/bin/time -f '%e %M' -o "$WORK/time" \
    "$BIN" --database-url "$PG/${DB}_backfill" --kratos-admin-url "$KRATOS" --log-format json \
    backfill >"$WORK/backfill.out" 2>"$WORK/backfill.log"
  read -r seconds max_rss_kb <"$WORK/time"
  printf 'backfill:  %s s wall, %s MiB max RSS\n' "$seconds" "$((max_rss_kb / 1024))"
else
  say "this build has no backfill command: no comparison"
fi
