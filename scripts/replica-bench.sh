#!/usr/bin/env bash
# What clients see when a replica dies and when the database comes back,
# before and after a change (a measurement, not a test):
#   1. replica kill: two shop replicas behind the gateway, readers and
#      payers (with Idempotency-Key, no client retries) running; one
#      replica gets SIGKILL. Reports failed requests and the throughput per
#      second against the mean before the kill.
#   2. breaker recovery: the database (behind a TCP fault proxy) is cut for
#      10 s under a steady read; reports how long after it returned the
#      first request succeeded and the last one failed.
# Every service runs as its own `marimo serve` process of the binary
# measured, on a fresh PostgreSQL database and a RabbitMQ virtual host.
#
# Usage: scripts/replica-bench.sh <marimo binary> [<another marimo binary> ...]
#   e.g. scripts/replica-bench.sh /work/main/target/debug/marimo target/debug/marimo
# Needs PostgreSQL and RabbitMQ (MARIMO_TEST_DATABASE_URL, default
# postgres://postgres@127.0.0.1:5432/postgres; MARIMO_TEST_RABBITMQ_URL,
# default amqp://guest:guest@127.0.0.1:5672/%2f; rabbitmqctl on the PATH).
# Compare binaries of the same profile (both debug or both release).
set -euo pipefail
[ $# -ge 1 ] || { sed -n '2,18p' "$0" >&2; exit 2; }
cargo build -q -p marimo --example replica_bench
target_dir=${CARGO_TARGET_DIR:-target}
for bin in "$@"; do
  [ -x "$bin" ] || { echo "not an executable: $bin" >&2; exit 1; }
  "$target_dir/debug/examples/replica_bench" --bin "$bin" --label "$bin" \
    --before "${BEFORE_SECS:-10}" --after "${AFTER_SECS:-10}" --cut "${CUT_SECS:-10}"
  echo
done
