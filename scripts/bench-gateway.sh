#!/usr/bin/env bash
# What the gateway costs and what its cache saves, measured with wrk on
# this machine (a benchmark, not a test):
#   1. the shop's catalog called directly (:8085),
#   2. the same through the gateway with its response cache off
#      (routing, edge checks, breaker, metrics: the added latency),
#   3. the same through the gateway's cache (X-Cache: HIT).
# Usage: scripts/bench-gateway.sh [marimo binary] [seconds] [connections]
# Build first: cargo build --release
set -euo pipefail
bin=${1:-target/release/marimo}
secs=${2:-15}
conns=${3:-32}
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }

run_system() { # MARIMO_CACHE: off or ttl_secs=N
  local dir
  dir=$(mktemp -d)
  MARIMO_DATA_DIR=$dir MARIMO_RATE_LIMITS=off MARIMO_CACHE=$1 LOG_LEVEL=error \
    JWT_SECRET=bench-secret-bench-secret-bench-secret-0123 "$bin" up >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 1 300); do
    curl -fs http://127.0.0.1:8080/ready >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "marimo up did not become ready" >&2
  kill "$pid"
  exit 1
}

stop_system() {
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

measure() { # label url
  echo "== $1"
  wrk -t"$(( conns < 2 ? 1 : 2 ))" -c"$conns" -d"${secs}s" --latency "$2" |
    grep -E 'Requests/sec|^ +(50|90|99)%|Non-2xx|Socket errors'
}

catalog=/api/shop/products?limit=20

run_system off
measure "direct: shop catalog" "http://127.0.0.1:8085$catalog"
measure "gateway, cache off" "http://127.0.0.1:8080$catalog"
stop_system

run_system ttl_secs=300
curl -fs "http://127.0.0.1:8080$catalog" >/dev/null # warm the entry
measure "gateway, cache on (HIT)" "http://127.0.0.1:8080$catalog"
stop_system
