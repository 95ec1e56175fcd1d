#!/usr/bin/env bash
# Compares two builds of CityServe on this machine by alternating them, scenario by scenario and
# round by round, so the machine's drift over minutes lands on both alike (a whole run.sh takes
# about 7 minutes per build, long enough for this 2-core machine to drift by 5-10 %). Each build
# gets its own copy of the demo city at $SCALE, loaded by itself; each pass is $DURATION s after 2 s
# of warm-up, 64 calls in flight, as in run.sh. Rounds alternate the order (before, after; then
# after, before), so a drift within a round does not always favour the same build. Besides calls/s,
# each pass reports the server's CPU per call (user + system time of the server process from
# /proc, over the calls answered), which moves less than throughput when the load generator
# shares the cores.
#   BEFORE=/tmp/wt-base/target/release AFTER=target/release crates/bench/ab.sh
# BACKENDS ("sqlite pg"), SCENARIOS ("noop get submit timeline report-card dashboard mix"),
# ROUNDS (3), SCALE (100000), DURATION (6), OUT (/tmp/ab). SETUP=0 reuses the loaded cities.
# Prints one line per pass and, at the end, each scenario's mean, range and after/before ratio, of
# calls/s and of CPU per call.
# Needs PostgreSQL at 127.0.0.1:5432 (trust, user postgres) for the pg backend.
set -euo pipefail
BEFORE=${BEFORE:?set BEFORE to the release directory of the baseline build}
AFTER=${AFTER:-target/release}
OUT=${OUT:-/tmp/ab}
SCALE=${SCALE:-100000}
DURATION=${DURATION:-6}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-50161}
mkdir -p "$OUT"
export CITYSERVE_LISTEN=127.0.0.1:$PORT CITYSERVE_TENANT_REQUESTS_PER_SECOND=0 CITYSERVE_MAX_CONCURRENT_REQUESTS=100000 \
  CITYSERVE_BREACH_SCAN_INTERVAL=0s CITYSERVE_LOG=error CITYSERVE_DB_MAX_CONNECTIONS=16

db_url() { # backend build
  if [ "$1" = sqlite ]; then echo "sqlite://$OUT/data-$1-$2/cityserve.db?mode=rwc"; else echo "postgres://postgres@127.0.0.1:5432/ab_$2"; fi
}
with() { # backend build command...
  local b=$1 w=$2; shift 2
  CITYSERVE_DATA_DIR="$OUT/data-$b-$w" CITYSERVE_DATABASE_URL="$(db_url "$b" "$w")" "$@"
}
bin_of() { if [ "$1" = before ]; then echo "$BEFORE"; else echo "$AFTER"; fi; }

setup() { # backend build
  rm -rf "$OUT/data-$1-$2"; mkdir -p "$OUT/data-$1-$2"
  if [ "$1" = pg ]; then
    psql -q -h 127.0.0.1 -U postgres -d postgres -c "DROP DATABASE IF EXISTS ab_$2" -c "CREATE DATABASE ab_$2" >/dev/null
  fi
  with "$1" "$2" "$(bin_of "$2")/cityserve" demo --scale "$SCALE" --months 36 >/dev/null
}

# Clock ticks (1/100 s) process $1 has run, all its threads, user and system.
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }

pass() { # backend build scenario round
  local bin; bin=$(bin_of "$2")
  # Started directly (not through `with`), so $! is the server itself, whose CPU is read.
  CITYSERVE_DATA_DIR="$OUT/data-$1-$2" CITYSERVE_DATABASE_URL="$(db_url "$1" "$2")" "$bin/cityserve" serve &
  local pid=$!
  for _ in $(seq 1 300); do
    "$bin/cityserve-bench" --target "http://127.0.0.1:$PORT" --token x --scenario noop --concurrency 1 --connections 1 \
      --duration 0.05 --warmup 0 >/dev/null 2>&1 && break
    sleep 0.05
  done
  local chief; chief=$(with "$1" "$2" "$bin/cityserve" token --role chief --subject chief-cso --ttl 2h)
  local json="$OUT/$1-$3-$2-$4.json" scenario=$3 before after
  run() { # seconds json
    "$bin/cityserve-bench" --target "http://127.0.0.1:$PORT" --token "$chief" --scenario "$scenario" --concurrency 64 \
      --connections 4 --duration "$1" --warmup 0 --department water \
      --resident r-00000000000000000000000000000001 --json "$2" >/dev/null 2>&1
  }
  # The warm-up is a pass of its own, so the CPU read around the measured one is its own.
  run 2 "$OUT/warm-up.json"
  before=$(ticks "$pid")
  run "$DURATION" "$json"
  after=$(ticks "$pid")
  kill -TERM "$pid"; wait "$pid" || true
  python3 -c "
import json; d = json.load(open('$json'))
cpu = ($after - $before) * 10000 / max(d['calls'], 1)
json.dump({'cpu_us_per_call': cpu}, open('$json'[:-5] + '.cpu', 'w'))
print('$1 $3 $2 round $4:', round(d['throughput_per_s']), 'calls/s, %.1f µs of server CPU per call, errors' % cpu, d['errors'])"
}

for b in ${BACKENDS:-sqlite pg}; do
  if [ "${SETUP:-1}" = 1 ]; then setup "$b" before; setup "$b" after; fi
  for s in ${SCENARIOS:-noop get submit timeline report-card dashboard mix}; do
    for r in $(seq 1 "$ROUNDS"); do
      if [ $((r % 2)) = 1 ]; then order="before after"; else order="after before"; fi
      for w in $order; do pass "$b" "$w" "$s" "$r"; done
    done
  done
done

python3 - "$OUT" <<'PY'
import glob, json, os, statistics, sys
runs, cpu = {}, {}
for f in glob.glob(os.path.join(sys.argv[1], "*-*-*-*.json")):
    backend, rest = os.path.basename(f)[:-5].split("-", 1)
    scenario, build, _round = rest.rsplit("-", 2)
    runs.setdefault((backend, scenario), {}).setdefault(build, []).append(json.load(open(f))["throughput_per_s"])
    if os.path.exists(f[:-5] + ".cpu"):
        cpu.setdefault((backend, scenario), {}).setdefault(build, []).append(
            json.load(open(f[:-5] + ".cpu"))["cpu_us_per_call"])
print("| Scenario | Backend | before: mean (range) | after: mean (range) | ratio | server CPU µs/call, before → after |")
print("|---|---|---:|---:|---:|---:|")
for (backend, scenario), d in sorted(runs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
    if "before" not in d or "after" not in d:
        continue
    b, a = statistics.mean(d["before"]), statistics.mean(d["after"])
    c = cpu.get((backend, scenario), {})
    per_call = (f"{statistics.mean(c['before']):.0f} → {statistics.mean(c['after']):.0f}"
                if "before" in c and "after" in c else "")
    name = "PostgreSQL" if backend == "pg" else "SQLite"
    print(f"| {scenario} | {name} | {b:,.0f} ({min(d['before']):,.0f}–{max(d['before']):,.0f}) "
          f"| {a:,.0f} ({min(d['after']):,.0f}–{max(d['after']):,.0f}) | {a / b:.2f} | {per_call} |")
PY
