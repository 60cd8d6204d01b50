#!/usr/bin/env bash
# Benchmarks `identity-link backfill` (release build) against a bare SQL bulk
# update of the same links on the same Postgres server; see docs/backfill.md.
#
#   scripts/bench-backfill.sh [--users N] [--rounds R] [--server URL] [backfill flags…]
#
# Needs a Postgres server where the user may create databases (default
# postgres://postgres@127.0.0.1:5432/postgres, or BENCH_DATABASE_URL). The fake
# Kratos runs in the benchmark process, on loopback.
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_DATABASE_URL="${BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
exec cargo bench --bench backfill -- "$@"
