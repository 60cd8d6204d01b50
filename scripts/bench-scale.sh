#!/usr/bin/env bash
# One run at scale: N users and N Kratos identities (the fake Kratos of
# examples/fake_kratos.rs), on a fresh database on the Postgres at
# 127.0.0.1:5432 (user postgres, trust auth). Times, with wall time and peak
# RSS (/usr/bin/time): `users import` of a CSV of N users, `backfill` linking
# them, `reconcile`, `export`, admin searches by an email fragment through
# GraphQL (p95 over 100 queries, on `serve`), and `audit prune` of N audit rows
# while resolves go on (their slowest answer is reported). Prints a table.
#
# usage: scripts/bench-scale.sh [N=1000000]
set -euo pipefail
cd "$(dirname "$0")/.."

N=${1:-1000000}
PG="postgres://postgres@127.0.0.1:5432"
DB="identity_link_bench_scale_$$"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/identity-link-target}"
PROFILE="${PROFILE:-release}"  # PROFILE=debug with NO_BUILD=1: the debug binaries as built
BIN="$CARGO_TARGET_DIR/$PROFILE/identity-link"
FAKE="$CARGO_TARGET_DIR/$PROFILE/examples/fake_kratos"
WORK=$(mktemp -d)
PIDS=()
ROWS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  dropdb -h 127.0.0.1 -U postgres --if-exists "$DB" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

say() { printf '==> %s\n' "$*" >&2; }
sql() { psql -h 127.0.0.1 -U postgres -d "$DB" -v ON_ERROR_STOP=1 -qAt -c "$1"; }
# timed NAME COMMAND…: runs it with its output in $WORK/NAME.out, records wall s and peak MiB.
timed() {
  local name=$1; shift
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" >"$WORK/$name.out" 2>"$WORK/$name.log" \
    || { echo "$name failed:" >&2; tail -5 "$WORK/$name.log" >&2; exit 1; }
  read -r seconds max_rss_kb <"$WORK/time"
  ROWS+=("$(printf '%-22s %10s s %8s MiB  %s' "$name" "$seconds" "$((max_rss_kb / 1024))" "${NOTE:-}")")
  NOTE=""
}
IL=("$BIN" --database-url "$PG/$DB" --log-format json)
il() { "${IL[@]}" "$@"; }

if [ -z "${NO_BUILD:-}" ]; then
  say "release build"
  cargo build --release --quiet --bin identity-link --example fake_kratos
fi

say "fake Kratos with $N identities"
"$FAKE" --identities "$N" --port 0 >"$WORK/fake.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 50); do grep -q 'http://' "$WORK/fake.log" && break; sleep 0.1; done
KRATOS=$(grep -o 'http://[0-9.:]*' "$WORK/fake.log")

say "CSV of $N users"
awk -v n="$N" 'BEGIN { print "email,first_name,last_name"; for (i = 0; i < n; i++) printf "user%d@example.com,User,%d\n", i, i }' >"$WORK/users.csv"
NOTE="$(du -m "$WORK/users.csv" | cut -f1) MiB file"

createdb -h 127.0.0.1 -U postgres "$DB"
il migrate >"$WORK/migrate.out" 2>"$WORK/migrate.log"
grep 'admin search index' "$WORK/migrate.out" >&2

say "import"
timed "users import" "${IL[@]}" users import "$WORK/users.csv"
grep -q "added:   $N" "$WORK/users import.out" || { cat "$WORK/users import.out" >&2; exit 1; }
sql "VACUUM ANALYZE users"

say "backfill"
timed "backfill" "${IL[@]}" --kratos-admin-url "$KRATOS" backfill --format json
say "reconcile"
timed "reconcile" "${IL[@]}" --kratos-admin-url "$KRATOS" reconcile --format json
say "export"
timed "export (csv)" "${IL[@]}" export --format csv

say "admin search on serve"
PORT=$((20000 + $$ % 20000))
ADMIN_TOKEN="bench-$$" "${IL[@]}" --kratos-admin-url "$KRATOS" --listen "127.0.0.1:$PORT" serve \
  >"$WORK/serve.out" 2>"$WORK/serve.log" &
SERVE=$!
PIDS+=("$SERVE")
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/health/live" >/dev/null 2>&1 && break; sleep 0.1; done
: >"$WORK/search.times"
for i in $(seq 100); do
  fragment="user$(( (i * 7919) % N ))@"
  curl -fsS -o /dev/null -w '%{time_total}\n' "http://127.0.0.1:$PORT/graphql" \
    -H "Authorization: Bearer bench-$$" -H 'Content-Type: application/json' \
    -d "{\"query\":\"{ adminUsers(search: \\\"$fragment\\\", first: 20) { edges { node { userId email } } } }\"}" \
    >>"$WORK/search.times"
done
p95=$(sort -n "$WORK/search.times" | awk '{ a[NR] = $1 } END { printf "%.1f", a[int(NR * 0.95)] * 1000 }')
p50=$(sort -n "$WORK/search.times" | awk '{ a[NR] = $1 } END { printf "%.1f", a[int(NR * 0.5)] * 1000 }')
ROWS+=("$(printf '%-22s %10s   %8s      p50 %s ms, p95 %s ms over 100 queries (HTTP included)' "admin search" "-" "-" "$p50" "$p95")")
# totalCount: counted up to 10,000, estimated above (one query each, HTTP included).
for arguments in 'first: 1' 'first: 1, search: \"user12345\"' 'first: 1, search: \"user1\"'; do
  curl -fsS -o "$WORK/count.json" -w '%{time_total}\n' "http://127.0.0.1:$PORT/graphql" \
    -H "Authorization: Bearer bench-$$" -H 'Content-Type: application/json' \
    -d "{\"query\":\"{ adminUsers($arguments) { totalCount totalCountIsEstimate } }\"}" >"$WORK/count.time"
  ms=$(awk '{ printf "%.1f", $1 * 1000 }' "$WORK/count.time")
  ROWS+=("$(printf '%-22s %10s   %8s      %s ms, %s: %s' totalCount - - "$ms" "$arguments" "$(tr -d '\n' <"$WORK/count.json")")")
done

say "audit prune of $N rows while resolving"
sql "INSERT INTO identity_audit (correlation_id, occurred_at, source, action, outcome)
     SELECT gen_random_uuid(), now() - interval '200 days', 'resolve', 'resolved', 'ok'
       FROM generate_series(1, $N)"
ID="1d000000-0000-4000-8000-000000000001"
: >"$WORK/resolve.times"
(
  while kill -0 "$SERVE" 2>/dev/null && [ ! -e "$WORK/prune.done" ]; do
    curl -sS -o /dev/null -w '%{time_total} %{http_code}\n' "http://127.0.0.1:$PORT/rest/internal/identity/resolve" \
      -H 'Content-Type: application/json' -d "{\"kratosIdentityId\":\"$ID\"}" >>"$WORK/resolve.times"
  done
) &
PIDS+=($!)
timed "audit prune" "${IL[@]}" audit prune --older-than 180d
touch "$WORK/prune.done"
sleep 0.5
resolves=$(wc -l <"$WORK/resolve.times")
slowest=$(sort -n "$WORK/resolve.times" | tail -1 | awk '{ printf "%.1f", $1 * 1000 }')
p99=$(sort -n "$WORK/resolve.times" | awk '{ a[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.1f", a[i] * 1000 }')
failed=$(awk '$2 != 200' "$WORK/resolve.times" | wc -l)
ROWS[${#ROWS[@]}-1]+="$(grep removed "$WORK/audit prune.out" | tr -s ' '); $resolves resolves meanwhile, p99 $p99 ms, slowest $slowest ms, $failed not 200"
serve_rss=$(awk '/VmHWM/ { print int($2 / 1024) }' "/proc/$SERVE/status")

printf '\n%s users and identities, %s cores, Postgres %s, load average %s\n' "$N" "$(nproc)" \
  "$(sql 'SHOW server_version')" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-22s %12s %12s  %s\n' step wall "peak RSS" notes
for row in "${ROWS[@]}"; do printf '%s\n' "$row"; done
printf 'serve peak RSS (search + resolves): %s MiB\n' "$serve_rss"
printf 'sizes: users %s, users_search_trgm_idx %s, users_email_key %s, identity_audit %s\n' \
  "$(sql "SELECT pg_size_pretty(pg_table_size('users'))")" \
  "$(sql "SELECT pg_size_pretty(pg_relation_size('users_search_trgm_idx'))")" \
  "$(sql "SELECT pg_size_pretty(pg_relation_size('users_email_key'))")" \
  "$(sql "SELECT pg_size_pretty(pg_total_relation_size('identity_audit'))")"
