#!/usr/bin/env bash
# Usage: scripts/bench-web-pages.sh [path/to/marimo] [rounds]
# Uses ports 18080-18087 and a temporary data directory.
# Per web page: bytes of HTML, and the median and 90th percentile of the
# time to a full answer over loopback (server render time, incl. the
# in-process API calls), signed in as the admin. CSS and JS are shared by
# every page (and cached for a year), so they are printed once.
set -u
BIN=${1:-target/debug/marimo}
ROUNDS=${2:-30}
DIR=$(mktemp -d)
JAR=$DIR/cookies
for p in GATEWAY:18080 USERS:18081 CONFIG:18082 ACCOUNTING:18083 FACTORY:18084 SHOP:18085 MAIN:18086 WORKER:18087; do export ${p%%:*}_PORT=${p##*:}; done
MARIMO_DATA_DIR=$DIR LOG_LEVEL=warn MARIMO_RATE_LIMITS=off \
  MARIMO_ADMIN_EMAIL=admin@example.com MARIMO_ADMIN_PASSWORD=Admin-Passw0rd $BIN up 2>/dev/null &
pid=$!
until [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:18080/health)" = 200 ]; do sleep 0.05; done
B=http://127.0.0.1:18080
curl -s -c "$JAR" -b "$JAR" $B/login >"$DIR/login.html"
login_bytes=$(wc -c <"$DIR/login.html")
T=$(awk '$6 == "marimo_csrf" {print $7}' "$JAR")
curl -s -o /dev/null -c "$JAR" -b "$JAR" $B/login --data-urlencode "_csrf=$T" \
  --data-urlencode email=admin@example.com --data-urlencode password=Admin-Passw0rd
css=$(grep -o '/assets/app\.[0-9a-f]*\.css' "$DIR/login.html")
js=$(grep -o '/assets/app\.[0-9a-f]*\.js' "$DIR/login.html")
echo "shared: CSS $(curl -s $B$css | wc -c) bytes, JS $(curl -s $B$js | wc -c) bytes"
printf '%-40s %8s %10s %10s\n' page html_bytes median_ms p90_ms
printf '%-40s %8s\n' "/login (guest)" "$login_bytes"
for page in / /shop /shop/cart /shop/manage /orders /orders/manage /accounting \
  /accounting/accounts /accounting/reports/trial-balance /accounting/reports/income-statement \
  /accounting/reports/balance-sheet /accounting/periods /factory/items /factory/stock \
  /factory/boms /factory/work-orders /users /config /audit /notifications /register; do
  size=$(curl -s -c "$JAR" -b "$JAR" "$B$page" | wc -c)
  times=$(for _ in $(seq "$ROUNDS"); do
    curl -s -o /dev/null -w '%{time_total}\n' -c "$JAR" -b "$JAR" "$B$page"
  done | sort -n)
  med=$(echo "$times" | awk -v n="$ROUNDS" 'NR == int((n + 1) / 2) {printf "%.1f", $1 * 1000}')
  p90=$(echo "$times" | awk -v n="$ROUNDS" 'NR == int(n * 0.9) {printf "%.1f", $1 * 1000}')
  printf '%-40s %8s %10s %10s\n' "$page" "$size" "$med" "$p90"
done
kill -TERM $pid; wait $pid
rm -rf "$DIR"
