#!/usr/bin/env bash
# Tenants × orders/s on one node (a benchmark, not a test): for each N in
# TENANTS, a fresh PostgreSQL database and `marimo up` on it; N businesses
# sign up (`POST /api/v1/users/signup`), each lists one product; then wrk
# places orders through the gateway for SECS seconds with CONNS
# connections, each request taking the next tenant in turn (its admin's
# token, its product), so all N tenants order at once. Prints orders/s,
# latency percentiles and non-2xx answers per N (docs/SCALING.md).
#
# Usage: scripts/tenant-bench.sh [marimo binary] [seconds] [connections]
#   env: PG=postgres://postgres@127.0.0.1:5432 (a role that may create
#   databases; the superuser bypasses the row policies, an ordinary role
#   with CREATEDB is bound by them), TENANTS="1 4 16", PORT_BASE=38080 (the services listen
#   on PORT_BASE..+7, away from a `marimo up` on the default 8080..8087)
# Build first: cargo build --release (or pass target/debug/marimo).
set -euo pipefail
bin=${1:-target/release/marimo}
secs=${2:-10}
conns=${3:-32}
pg=${PG:-postgres://postgres@127.0.0.1:5432}
tenants=${TENANTS:-1 4 16}
base=${PORT_BASE:-38080}
gw=http://127.0.0.1:$base
command -v wrk >/dev/null || { echo "wrk is not installed (apt-get install wrk)" >&2; exit 1; }
command -v jq >/dev/null || { echo "jq is not installed (apt-get install jq)" >&2; exit 1; }
work=$(mktemp -d)
pid=

stop_system() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=
  fi
}
trap 'stop_system; rm -rf "$work"' EXIT

run_system() { # database
  psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null
  mkdir -p "$work/$1"
  GATEWAY_PORT=$base USERS_PORT=$((base + 1)) CONFIG_PORT=$((base + 2)) \
    ACCOUNTING_PORT=$((base + 3)) FACTORY_PORT=$((base + 4)) SHOP_PORT=$((base + 5)) \
    MAIN_PORT=$((base + 6)) WORKER_PORT=$((base + 7)) \
    MARIMO_DATA_DIR=$work/$1 DATABASE_URL=$pg/$1 MARIMO_RATE_LIMITS=off LOG_LEVEL=error \
    JWT_SECRET=bench-secret-bench-secret-bench-secret-0123 "$bin" up >"$work/$1.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do
    kill -0 "$pid" 2>/dev/null || break
    curl -fs "$gw/ready" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "marimo up did not become ready; its log:" >&2
  tail -20 "$work/$1.log" >&2
  exit 1
}

# Signs up tenant $1 and lists its product; prints "token product_id".
tenant() {
  local token product
  token=$(curl -fsS "$gw/api/v1/users/signup" -H 'content-type: application/json' -d "{
      \"business_name\": \"Bench $1\", \"slug\": \"$1\", \"currency\": \"USD\",
      \"admin_name\": \"Bench\", \"email\": \"admin@$1.bench\", \"password\": \"Bench-Passw0rd\"}" |
    jq -r .access_token)
  product=$(curl -fs "$gw/api/v1/shop/admin/products" -H "authorization: Bearer $token" \
      -H 'content-type: application/json' \
      -d '{"name": "Widget", "price": "9.99", "stock": 100000000, "sku": "WIDGET"}' |
    jq -r .product.id)
  echo "$token $product"
}

echo "marimo: $bin; wrk ${secs}s, $conns connections; $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for n in $tenants; do
  db=marimo_tenant_bench_$n
  run_system "$db"
  {
    echo "local t = {}"
    for i in $(seq 1 "$n"); do
      read -r token product < <(tenant "bench-$i")
      echo "t[#t + 1] = {\"$token\", '{\"items\": [{\"product_id\": \"$product\", \"quantity\": 1}]}'}"
    done
    cat <<'LUA'
local i = 0
wrk.method = "POST"
wrk.headers["content-type"] = "application/json"
request = function()
  i = i % #t + 1
  wrk.headers["authorization"] = "Bearer " .. t[i][1]
  return wrk.format(nil, "/api/v1/shop/orders", nil, t[i][2])
end
LUA
  } >"$work/orders.lua"
  echo "== $n tenant(s): orders (load before: $(cut -d' ' -f1 /proc/loadavg))"
  wrk -t"$(( conns < 2 ? 1 : 2 ))" -c"$conns" -d"${secs}s" --latency -s "$work/orders.lua" "$gw" |
    grep -E 'Requests/sec|^ +(50|90|99)%|Non-2xx|Socket errors'
  # '*' is the all-tenants setting the row policies admit (an ordinary
  # role sees no business rows without it).
  stored=$(psql "$pg/$db" -qtAc "SET marimo.tenant_id = '*'; SELECT count(*) || ' tenants, ' || sum(n) || ' orders, ' || min(n) || '..' || max(n) || ' per tenant'
      FROM (SELECT tenant_id, count(*) AS n FROM shop.orders GROUP BY 1) per_tenant" 2>/dev/null || true)
  echo "orders stored: $stored"
  stop_system
  psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db" >/dev/null
done
