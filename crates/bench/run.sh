#!/usr/bin/env bash
# Runs CityServe's benchmark on this machine and writes the figures to $OUT (default target/bench):
# the demo city at $SCALE contacts, then every scenario at $CONCURRENCY calls in flight for
# $DURATION seconds, on PostgreSQL (RLS on) and on SQLite, with the baselines measured in the same
# run (health-check floor; pgbench -S and a pgbench single-row INSERT at the same client count).
#   SCALE=1000000 DURATION=15 crates/bench/run.sh
# Besides the closed-loop pass (64 in flight: throughput), every scenario but noop and mix also
# runs open-loop (latency of a loaded server that keeps up): $LATENCY_RATE calls/s (200), the
# dashboard and the board report (board-report) at $DASHBOARD_RATE (100) and the 1,000-contact
# timeline at $TIMELINE_RATE (50).
# BACKENDS="pg sqlite" and SCENARIOS="noop get ..." pick what runs; PGBENCH=0 skips the baselines,
# OPEN_LOOP=0 the open-loop passes; CORES="0" runs the server on those CPUs only (taskset -c);
# RELOAD=0 serves the city the last run with the same $OUT loaded, without loading it again.
# The Open311 scenarios (open311-list: GET requests.json of the newest 100; open311-post: a hydrant
# report with its answers) run against the gateway on port $PORT+1, its per-key limit lifted.
# With NATS at 127.0.0.1:4222 (NATS_LAG=0 skips it), submit runs once more with events out to
# JetStream on, and the bench measures every event's lag (JSON: $OUT/{backend}-submit-nats.json).
#   SCALE=10000000 BACKENDS=pg SCENARIOS="report-card dashboard timeline" PGBENCH=0 crates/bench/run.sh
# Needs: a release build (cargo build --release -p cityserve -p cityserve-bench), PostgreSQL at
# 127.0.0.1:5432 (trust, user postgres), pgbench.
set -euo pipefail
cd "$(dirname "$0")/../.."
SCALE=${SCALE:-1000000}
DURATION=${DURATION:-15}
C=${CONCURRENCY:-64}
OUT=${OUT:-target/bench}
BACKENDS=${BACKENDS:-pg sqlite}
SCENARIOS=${SCENARIOS:-noop get submit timeline report-card dashboard mix}
LATENCY_RATE=${LATENCY_RATE:-200}
DASHBOARD_RATE=${DASHBOARD_RATE:-100}
TIMELINE_RATE=${TIMELINE_RATE:-50}
rate_for() { case $1 in dashboard | board-report) echo "$DASHBOARD_RATE" ;; timeline) echo "$TIMELINE_RATE" ;; *) echo "$LATENCY_RATE" ;; esac; }
BIN=${BIN:-target/release/cityserve}
BENCH=${BENCH:-target/release/cityserve-bench}
PG=postgres://postgres@127.0.0.1:5432
PORT=${PORT:-50151}
O311=$((PORT + 1))
mkdir -p "$OUT"
rm -f "$OUT"/*.json
log() { echo "bench: $*" >&2; }

wait_serving() { # pid
  local start=$(date +%s%N)
  for _ in $(seq 1 600); do
    if "$BENCH" --target "http://127.0.0.1:$PORT" --token x --scenario noop --concurrency 1 --connections 1 \
        --duration 0.05 --warmup 0 >/dev/null 2>&1; then
      echo $(( ($(date +%s%N) - start) / 1000000 ))
      return 0
    fi
    sleep 0.01
  done
  log "server never served"; return 1
}

run_backend() { # name url
  local name=$1 url=$2
  export CITYSERVE_OPEN311_LISTEN=127.0.0.1:$O311 CITYSERVE_OPEN311_REQUESTS_PER_MINUTE=4000000000
  export CITYSERVE_DATABASE_URL=$url CITYSERVE_DATA_DIR=$OUT/data-$name CITYSERVE_LISTEN=127.0.0.1:$PORT \
    CITYSERVE_TENANT_REQUESTS_PER_SECOND=0 CITYSERVE_MAX_CONCURRENT_REQUESTS=100000 \
    CITYSERVE_BREACH_SCAN_INTERVAL=0s CITYSERVE_LOG=warn CITYSERVE_DB_MAX_CONNECTIONS=${POOL:-16}
  if [ "${RELOAD:-1}" != 0 ]; then
    rm -rf "$OUT/data-$name"
    log "$name: loading the demo city at scale $SCALE"
    "$BIN" demo --scale "$SCALE" --months 36 > "$OUT/$name-demo.txt"
    head -n 1 "$OUT/$name-demo.txt" >&2
  else
    log "$name: serving the city loaded before (RELOAD=0)"
  fi
  if [ -n "${CORES:-}" ]; then taskset -c "$CORES" "$BIN" serve & else "$BIN" serve & fi
  local pid=$!
  local ready_ms; ready_ms=$(wait_serving)
  echo "{\"start_to_serving_ms\": $ready_ms}" > "$OUT/$name-start.json"
  local chief; chief=$("$BIN" token --role chief --subject chief-cso --ttl 2h)
  # How many requests the Open311 list scenario reads per call (the newest 100, if there are).
  curl -s "http://127.0.0.1:$O311/open311/v2/requests.json?page_size=100" \
    | python3 -c 'import json,sys; print(json.dumps({"open311_list_results": len(json.load(sys.stdin))}))' \
    > "$OUT/$name-open311-list-results.json" || true
  for s in $SCENARIOS; do
    local rss_max=0
    ( while kill -0 $pid 2>/dev/null; do ps -o rss= -p $pid; sleep 0.2; done ) > "$OUT/$name-$s.rss" &
    local sampler=$!
    "$BENCH" --target "http://127.0.0.1:$PORT" --token "$chief" --scenario "$s" --concurrency "$C" \
      --connections 4 --duration "$DURATION" --warmup 2 --department water --open311 "127.0.0.1:$O311" \
      --resident r-00000000000000000000000000000001 --json "$OUT/$name-$s.json" >&2 || log "$name $s reported errors"
    kill $sampler 2>/dev/null || true
    rss_max=$(sort -n "$OUT/$name-$s.rss" | tail -n 1)
    echo "{\"rss_kib_max\": ${rss_max:-0}}" > "$OUT/$name-$s-rss.json"
    if [ "${OPEN_LOOP:-1}" != 0 ] && [ "$s" != noop ] && [ "$s" != mix ]; then
      "$BENCH" --target "http://127.0.0.1:$PORT" --token "$chief" --scenario "$s" --concurrency "$C" \
        --connections 4 --duration "$DURATION" --warmup 1 --rate "$(rate_for "$s")" --department water \
        --open311 "127.0.0.1:$O311" \
        --resident r-00000000000000000000000000000001 --json "$OUT/$name-$s-latency.json" >&2 \
        || log "$name $s (open loop) reported errors"
    fi
  done
  kill -TERM $pid; wait $pid || true
  # Events out: the submit pass again with the server publishing to NATS JetStream, and the
  # bench subscribed to the subjects, measuring each event's lag (NATS at $NATS, if reachable).
  if [ "${NATS_LAG:-1}" != 0 ] && (exec 3<>"/dev/tcp/${NATS_HOST:-127.0.0.1}/${NATS_PORT:-4222}") 2>/dev/null; then
    local nats="nats://${NATS_HOST:-127.0.0.1}:${NATS_PORT:-4222}"
    CITYSERVE_NATS_URL=$nats CITYSERVE_NATS_STREAM=CITYSERVE_BENCH_$name CITYSERVE_NATS_SUBJECT_PREFIX=bench$name \
      "$BIN" serve & pid=$!
    wait_serving >/dev/null
    "$BENCH" --target "http://127.0.0.1:$PORT" --token "$chief" --scenario submit --concurrency "$C" \
      --connections 4 --duration "$DURATION" --warmup 2 --department water \
      --watch-nats "$nats" --nats-subject "bench$name.>" --json "$OUT/$name-submit-nats.json" >&2 \
      || log "$name submit with events out reported errors"
    kill -TERM $pid; wait $pid || true
  fi
}

# Baselines on the same machine, same client count.
if [ "${PGBENCH:-1}" != 0 ]; then
log "pgbench baselines ($C clients)"
dropdb -h 127.0.0.1 -U postgres --if-exists cityserve_pgbench
createdb -h 127.0.0.1 -U postgres cityserve_pgbench
pgbench -h 127.0.0.1 -U postgres -i -q -s 10 cityserve_pgbench >/dev/null 2>&1
psql -h 127.0.0.1 -U postgres -q -d cityserve_pgbench -c "CREATE TABLE one_row (id bigserial PRIMARY KEY, v text NOT NULL)"
echo "INSERT INTO one_row (v) VALUES ('load test contact');" > "$OUT/insert.sql"
tps() { grep -Eo 'tps = [0-9.]+' | head -n 1 | awk '{print $3}'; }
sel=$(pgbench -h 127.0.0.1 -U postgres -S -c "$C" -j 2 -T "$DURATION" -n cityserve_pgbench 2>/dev/null | tps)
ins=$(pgbench -h 127.0.0.1 -U postgres -f "$OUT/insert.sql" -c "$C" -j 2 -T "$DURATION" -n cityserve_pgbench 2>/dev/null | tps)
echo "{\"pgbench_select_tps\": $sel, \"pgbench_insert_tps\": $ins}" > "$OUT/pgbench.json"
log "pgbench -S: $sel tps; single-row INSERT: $ins tps"
fi

for backend in $BACKENDS; do
  case $backend in
    pg)
      if [ "${RELOAD:-1}" != 0 ]; then
        dropdb -h 127.0.0.1 -U postgres --if-exists cityserve_bench
        createdb -h 127.0.0.1 -U postgres cityserve_bench
      fi
      run_backend pg "$PG/cityserve_bench" ;;
    sqlite) run_backend sqlite "sqlite://$OUT/data-sqlite/cityserve.db" ;;
    *) log "unknown backend $backend"; exit 2 ;;
  esac
done
log "figures in $OUT"
