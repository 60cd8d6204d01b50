#!/usr/bin/env bash
# Memory and CPU of `serve` under load, for the Kubernetes requests and limits
# (docs/deploy.md): the release binary on a fresh Postgres database, IDENTITIES identities
# from a fixture file (provisioned by the first calls, linked after), wrk resolving them at
# CONNECTIONS connections for SECONDS seconds. Prints the resident memory at rest, its peak
# under load (VmHWM) and after, the CPU used, and wrk's throughput.
# Needs wrk (installed from Debian's packages when missing) and a Postgres at PGURL
# (default postgres://postgres@127.0.0.1:5432).
# Usage: scripts/bench-memory.sh   (IDENTITIES=1000 CONNECTIONS=64 DURATION=30; BINARY=path
# measures that binary instead of building the release one)
set -euo pipefail
cd "$(dirname "$0")/.."

PGURL="${PGURL:-postgres://postgres@127.0.0.1:5432}"
IDENTITIES="${IDENTITIES:-1000}"
CONNECTIONS="${CONNECTIONS:-64}"
SECONDS_UNDER_LOAD="${DURATION:-30}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/identity-link-target}"
database="identity_link_memory_$$"
work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

command -v wrk >/dev/null 2>&1 || {
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
}
cleanup() {
  [ -z "${server:-}" ] || kill "$server" 2>/dev/null || true
  wait 2>/dev/null || true
  psql -q "$PGURL/postgres" -c "DROP DATABASE IF EXISTS $database" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

binary="${BINARY:-}"
if [ -z "$binary" ]; then
  cargo build --release --locked --bin identity-link --quiet
  binary="$CARGO_TARGET_DIR/release/identity-link"
fi
python3 - "$IDENTITIES" "$work" <<'EOF'
import json, sys, uuid
count, work = int(sys.argv[1]), sys.argv[2]
ids = [str(uuid.uuid4()) for _ in range(count)]
identities = [{
    "id": id, "schema_id": "default", "state": "active",
    "traits": {"email": f"user{n}@example.com", "name": {"first": "User", "last": str(n)}},
    "verifiable_addresses": [{"id": str(uuid.uuid4()), "value": f"user{n}@example.com",
                              "verified": True, "via": "email", "status": "completed"}],
} for n, id in enumerate(ids)]
json.dump(identities, open(f"{work}/identities.json", "w"))
open(f"{work}/ids.txt", "w").write("\n".join(ids) + "\n")
EOF
psql -q "$PGURL/postgres" -c "CREATE DATABASE $database" >/dev/null

DATABASE_URL="$PGURL/$database" KRATOS_FIXTURE_PATH="$work/identities.json" LOG_FORMAT=json \
  RUST_LOG=warn "$binary" --listen "127.0.0.1:$port" serve \
  2>"$work/server.log" &
server=$!
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/health/ready" >/dev/null && break
  sleep 0.1
done

rss() { awk "/^$1:/ {print int(\$2 / 1024)}" "/proc/$server/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server/stat"; }
at_rest=$(rss VmRSS)
ticks_before=$(cpu_ticks)
BENCH_IDS="$work/ids.txt" wrk -t2 -c "$CONNECTIONS" -d "${SECONDS_UNDER_LOAD}s" \
  -s scripts/bench/resolve_linked.lua "http://127.0.0.1:$port/rest/internal/identity/resolve" \
  > "$work/wrk.txt"
ticks_after=$(cpu_ticks)
sleep 2
hz=$(getconf CLK_TCK)
users=$(psql -tA "$PGURL/$database" -c "SELECT count(*) FROM users")

echo "identities: $IDENTITIES (users provisioned: $users), $CONNECTIONS connections, ${SECONDS_UNDER_LOAD} s"
echo "RSS at rest: ${at_rest} MiB; peak under load (VmHWM): $(rss VmHWM) MiB; after: $(rss VmRSS) MiB"
awk -v t=$((ticks_after - ticks_before)) -v hz="$hz" -v s="$SECONDS_UNDER_LOAD" \
  'BEGIN {printf "CPU: %.1f s over %d s = %.2f cores\n", t / hz, s, t / hz / s}'
grep -E "Requests/sec|Latency|Non-2xx" "$work/wrk.txt"
