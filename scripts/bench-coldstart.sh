#!/usr/bin/env bash
# Usage: scripts/bench-coldstart.sh [path/to/marimo]   (build first: cargo build --release -p marimo)
# Uses ports 18080-18087 and a temporary data directory.
# Cold start of `marimo up` to all-healthy, and idle RSS.
set -u
BIN=${1:-/work/target-release/release/marimo}
DIR=$(mktemp -d)
for p in GATEWAY:18080 USERS:18081 CONFIG:18082 ACCOUNTING:18083 FACTORY:18084 SHOP:18085 MAIN:18086 WORKER:18087; do export ${p%%:*}_PORT=${p##*:}; done
start=$(date +%s.%N)
MARIMO_DATA_DIR=$DIR LOG_LEVEL=warn $BIN up 2>/dev/null &
pid=$!
until [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18080/health)" = 200 ]; do sleep 0.01; done
end=$(date +%s.%N)
echo "cold start to all-healthy: $(echo "($end - $start) * 1000" | bc) ms"
sleep 5
echo "idle RSS: $(grep VmRSS /proc/$pid/status)"
kill -TERM $pid; wait $pid; echo "exit status after SIGTERM: $?"
rm -rf "$DIR"
