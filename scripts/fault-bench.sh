#!/usr/bin/env bash
# Recovery from backend faults, measured as an operator would (a benchmark,
# not a test: tests assert outcomes, this prints times and counts), on
# PostgreSQL, RabbitMQ and Redis with a TCP fault proxy
# (scripts/fault-proxy.py) between the services and one backend:
#
#   relay       RabbitMQ cut for $OUTAGE s while orders are paid; after it
#               returns: how long until the shop's outbox is drained (relay
#               resume) and every paid order is booked; "outbox relay
#               stalled" warnings logged during the outage.
#   redis       wrk against the gateway with Redis healthy, cut, and
#               blackholed: requests/s, p99 and non-2xx of the cached
#               catalog (anonymous) and of a signed-in route (rate limit
#               kept in Redis).
#   accounting  accounting's database cut for $OUTAGE s while orders are
#               paid (each service its own process, accounting's
#               connections through the proxy): payments acknowledged vs
#               booked, failed requests, dead letters, and the catch-up
#               time after the database returns.
#
# Usage: scripts/fault-bench.sh [marimo binary] [scenario...]
#   (default: target/release/marimo, all three scenarios)
# Backends: MARIMO_TEST_DATABASE_URL, MARIMO_TEST_RABBITMQ_URL,
# MARIMO_TEST_REDIS_URL (defaults: the local servers of the test setup).
# Needs psql, rabbitmqctl, curl, jq, wrk, python3. Uses ports 18080-18087
# and 1809x; creates (and drops) a database, a vhost and a Redis namespace.
set -euo pipefail
bin=$(realpath "${1:-target/release/marimo}")
shift || true
scenarios=("$@")
[[ ${#scenarios[@]} -gt 0 ]] || scenarios=(relay redis accounting)
here=$(cd "$(dirname "$0")" && pwd)
PG=${MARIMO_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}
RABBIT=${MARIMO_TEST_RABBITMQ_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
REDIS=${MARIMO_TEST_REDIS_URL:-redis://127.0.0.1:6379}
OUTAGE=${OUTAGE:-20}
WRK_SECS=${WRK_SECS:-10}
WRK_CONNS=${WRK_CONNS:-16}
for tool in psql rabbitmqctl curl jq wrk python3; do
  command -v "$tool" >/dev/null || { echo "fault-bench: $tool is missing" >&2; exit 1; }
done

GW=http://127.0.0.1:18080
ADMIN_EMAIL=ops@bench.test
ADMIN_PASSWORD=Bench-Passw0rd
SERVICES=(users config accounting factory shop main worker gateway)
declare -A PORT=([gateway]=18080 [users]=18081 [config]=18082 [accounting]=18083
  [factory]=18084 [shop]=18085 [main]=18086 [worker]=18087)

# host:port of a URL.
authority() { local rest=${1#*://}; rest=${rest%%/*}; echo "${rest##*@}"; }
now_ms() { date +%s%3N; }
pids=()
cleanup_cmds=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
  for c in "${cleanup_cmds[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
  cleanup_cmds=()
}
trap cleanup EXIT

# A fresh database, vhost, Redis namespace and data directory; sets
# DB_URL, RABBIT_URL (in the vhost), NS, DATA.
fresh_backends() {
  local tag
  tag=fb$(date +%s)$RANDOM
  psql "$PG" -qc "CREATE DATABASE $tag" >/dev/null
  cleanup_cmds+=("psql '$PG' -qc 'DROP DATABASE IF EXISTS $tag WITH (FORCE)'")
  DB_URL="${PG%/*}/$tag"
  rabbitmqctl -q add_vhost "$tag" >/dev/null
  rabbitmqctl -q set_permissions -p "$tag" guest '.*' '.*' '.*' >/dev/null
  cleanup_cmds+=("rabbitmqctl -q delete_vhost '$tag'")
  VHOST=$tag
  RABBIT_URL="${RABBIT%/*}/$tag"
  NS=$tag
  DATA=$(mktemp -d)
  cleanup_cmds+=("rm -rf '$DATA'")
}

# fault-proxy on port $1 to $2; sets PROXY.
start_proxy() {
  python3 "$here/fault-proxy.py" "$1" "$2" &
  PROXY=$!
  pids+=("$PROXY")
  for _ in $(seq 1 50); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "fault-proxy did not start" >&2
  exit 1
}
cut() { kill -USR1 "$PROXY"; sleep 0.2; }
blackhole() { kill -USR2 "$PROXY"; sleep 0.2; }
restore() { kill -HUP "$PROXY"; sleep 0.2; }

# Runs "$@" (overrides, then the command) in the environment every marimo
# process gets; `exec`, so that a background call's $! is marimo's pid.
marimo_env() {
  exec env -i PATH="$PATH" HOME="$HOME" \
    MARIMO_DATA_DIR="$DATA" JWT_SECRET=bench-secret-bench-secret-bench-secret-0123 \
    DATABASE_URL="$DB_URL" RABBITMQ_URL="$RABBIT_URL" \
    MARIMO_REDIS_NAMESPACE="$NS" \
    MARIMO_ADMIN_EMAIL="$ADMIN_EMAIL" MARIMO_ADMIN_PASSWORD="$ADMIN_PASSWORD" \
    MARIMO_RATE_LIMITS=off LOG_LEVEL=warn LOG_FORMAT=json \
    GATEWAY_PORT=18080 USERS_PORT=18081 CONFIG_PORT=18082 ACCOUNTING_PORT=18083 \
    FACTORY_PORT=18084 SHOP_PORT=18085 MAIN_PORT=18086 WORKER_PORT=18087 \
    "$@"
}

wait_up() { # url...
  for url in "$@"; do
    for _ in $(seq 1 600); do
      curl -fs "$url/health" >/dev/null 2>&1 && continue 2
      sleep 0.1
    done
    echo "$url did not come up; the logs end with:" >&2
    tail -n 5 "$DATA"/*.log >&2 || true
    exit 1
  done
}

# Tokens and a stocked catalog: sets ADMIN, CUSTOMER, PRODUCTS.
prepare_shop() {
  ADMIN=$(curl -fs "$GW/api/users/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" | jq -r .access_token)
  curl -fs "$GW/api/users/register" -H 'content-type: application/json' \
    -d '{"email":"buyer@bench.test","password":"Buyer-Passw0rd","name":"Buyer"}' >/dev/null
  CUSTOMER=$(curl -fs "$GW/api/users/login" -H 'content-type: application/json' \
    -d '{"email":"buyer@bench.test","password":"Buyer-Passw0rd"}' | jq -r .access_token)
  mapfile -t PRODUCTS < <(curl -fs "$GW/api/shop/products" | jq -r '.products[].id')
  for p in "${PRODUCTS[@]}"; do
    curl -fs "$GW/api/shop/admin/products/$p/restock" -H "authorization: Bearer $ADMIN" \
      -H 'content-type: application/json' -d '{"quantity": 100000}' >/dev/null
  done
}

# Places and pays one order; prints the payment's HTTP status (or the
# placement's when it failed).
pay_one() {
  local product=${PRODUCTS[$((RANDOM % ${#PRODUCTS[@]}))]} placed code id
  placed=$(curl -s -w '\n%{http_code}' "$GW/api/shop/orders" -H "authorization: Bearer $CUSTOMER" \
    -H 'content-type: application/json' -d "{\"items\":[{\"product_id\":\"$product\",\"quantity\":1}]}")
  code=${placed##*$'\n'}
  if [[ $code != 201 ]]; then echo "$code"; return; fi
  id=$(echo "${placed%$'\n'*}" | jq -r .order.id)
  curl -s -o /dev/null -w '%{http_code}\n' "$GW/api/shop/orders/$id/pay" \
    -H "authorization: Bearer $ADMIN" -H 'content-type: application/json' \
    -d '{"method":"card","reference":"BENCH"}'
}

# Errors (the server briefly out of connections) read as "?": polls go on.
sql() { psql "$DB_URL" -tAc "$1" 2>/dev/null || echo "?"; }
booked() { sql "SELECT COUNT(*) FROM accounting.journal_entries WHERE reference LIKE 'shop:order:%'"; }
paid() { sql "SELECT COUNT(*) FROM shop.orders WHERE status = 'paid'"; }
backlog() { sql "SELECT COUNT(*) FROM shop.outbox WHERE sent_at IS NULL"; }
dlq_depth() { # queue
  rabbitmqctl -q list_queues -p "$VHOST" name messages 2>/dev/null |
    awk -v q="$1.dlq" '$1 == q { print $2 }' | grep . || echo 0
}
warnings() { # log, message
  grep -c "\"$2" "$1" || true
}

# Polls `cmd` until it prints `want` (at most `limit` s from `t0`, an
# epoch in ms); prints the ms from `t0` until then.
until_equals() { # t0 want limit cmd...
  local t0=$1 want=$2 limit=$3
  shift 3
  while (( $(now_ms) - t0 < limit * 1000 )); do
    [[ $("$@") == "$want" ]] && { echo $(( $(now_ms) - t0 )); return; }
    sleep 0.05
  done
  echo "more than $((limit * 1000)) (last: $("$@"))"
}

# `url` with its host and port replaced by 127.0.0.1:`port`.
via_port() { echo "${1/$(authority "$1")/127.0.0.1:$2}"; }

scenario_relay() {
  echo "== relay: RabbitMQ cut for ${OUTAGE} s while orders are paid"
  fresh_backends
  start_proxy 18090 "$(authority "$RABBIT")"
  local log=$DATA/up.log
  RABBIT_URL=$(via_port "$RABBIT_URL" 18090)
  marimo_env "$bin" up >"$log" 2>&1 &
  pids+=($!)
  wait_up "$GW"
  prepare_shop
  for _ in 1 2 3; do pay_one >/dev/null; done
  until_equals "$(now_ms)" 3 60 booked >/dev/null
  cut
  local before=$(( $(wc -l <"$log") )) n=0 failed=0 code
  for _ in $(seq 1 20); do
    code=$(pay_one)
    if [[ $code == 200 ]]; then n=$((n + 1)); else failed=$((failed + 1)); fi
  done
  sleep "$OUTAGE"
  local stalled
  stalled=$(tail -n +"$before" "$log" | grep -c 'outbox relay stalled' || true)
  restore
  local t0
  t0=$(now_ms)
  local drained all
  drained=$(until_equals "$t0" 0 120 backlog)
  all=$(until_equals "$t0" "$((n + 3))" 120 booked)
  echo "payments acknowledged during the outage: $n (failed: $failed)"
  echo "relay resume (shop outbox drained) after the broker returned: $drained ms"
  echo "every paid order booked after the broker returned: $all ms (booked $(booked) of $((n + 3)))"
  echo "'outbox relay stalled' warnings during the outage: $stalled"
  cleanup
}

wrk_line() { # label, wrk args...
  local label=$1 out
  shift
  out=$(wrk -t2 -c"$WRK_CONNS" -d"${WRK_SECS}s" --latency "$@" 2>&1)
  printf '%-34s %10s req/s  p50 %8s  p99 %8s  non-2xx %s\n' "$label" \
    "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" \
    "$(awk '$1 == "50%" {print $2}' <<<"$out")" \
    "$(awk '$1 == "99%" {print $2}' <<<"$out")" \
    "$(awk '/Non-2xx/ {print $5}' <<<"$out" | grep . || echo 0)"
}

scenario_redis() {
  echo "== redis: gateway throughput and latency with Redis healthy, cut, blackholed"
  fresh_backends
  start_proxy 18091 "$(authority "$REDIS")"
  local log=$DATA/up.log
  marimo_env REDIS_ADDR=127.0.0.1:18091 MARIMO_RATE_LIMITS='user=100000000/m:1000000' \
    "$bin" up >"$log" 2>&1 &
  pids+=($!)
  wait_up "$GW"
  prepare_shop
  local catalog="$GW/api/shop/products?limit=20" mine="$GW/api/shop/orders"
  curl -fs "$catalog" >/dev/null
  for state in healthy cut blackhole; do
    case $state in
      cut) cut ;;
      blackhole) restore; sleep 1; blackhole ;;
    esac
    wrk_line "catalog (cache), Redis $state" "$catalog"
    wrk_line "signed in (limit), Redis $state" -H "authorization: Bearer $CUSTOMER" "$mine"
  done
  restore
  echo "'redis unreachable' warnings: $(grep -c 'redis unreachable' "$log" || true)"
  cleanup
}

scenario_accounting() {
  echo "== accounting: its database cut for ${OUTAGE} s while orders are paid"
  fresh_backends
  start_proxy 18092 "$(authority "$PG")"
  local through
  through=$(via_port "$DB_URL" 18092)
  local s
  for s in "${SERVICES[@]}"; do
    if [[ $s == accounting ]]; then
      marimo_env DATABASE_URL="$through" "$bin" serve "$s" >"$DATA/$s.log" 2>&1 &
    else
      marimo_env "$bin" serve "$s" >"$DATA/$s.log" 2>&1 &
    fi
    pids+=($!)
  done
  local urls=()
  for s in "${SERVICES[@]}"; do urls+=("http://127.0.0.1:${PORT[$s]}"); done
  wait_up "${urls[@]}"
  prepare_shop
  for _ in 1 2 3; do pay_one >/dev/null; done
  until_equals "$(now_ms)" 3 60 booked >/dev/null
  cut
  local end=$(( $(date +%s) + OUTAGE )) results=$DATA/codes loops=()
  : >"$results"
  for _ in 1 2; do
    (while (( $(date +%s) < end )); do pay_one >>"$results"; done) &
    loops+=($!)
  done
  wait "${loops[@]}" 2>/dev/null || true
  local booked_at_return
  booked_at_return=$(booked)
  restore
  local t0 acked failed took
  t0=$(now_ms)
  acked=$(( $(grep -c '^200$' "$results" || true) + 3 ))
  took=$(until_equals "$t0" "$acked" 120 booked)
  failed=$(grep -vc '^200$' "$results" || true)
  echo "payments acknowledged: $acked (3 before the cut); failed requests: $failed ($(sort "$results" | uniq -c | tr -s ' ' | paste -sd, -))"
  echo "booked when the database returned: $booked_at_return"
  echo "catch-up (every acknowledged payment booked): $took ms after the database returned"
  sleep 2
  echo "booked: $(booked) of $acked acknowledged (orders paid in the shop: $(paid)); accounting dead letters: $(dlq_depth accounting)"
  echo "'consumer paused' warnings: $(grep -c 'consumer paused' "$DATA/accounting.log" || true); 'handler failed, retrying' warnings: $(grep -c 'handler failed, retrying' "$DATA/accounting.log" || true)"
  cleanup
}

echo "binary: $bin ($(date -u +%FT%TZ))"
for s in "${scenarios[@]}"; do
  "scenario_$s"
done
