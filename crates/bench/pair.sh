#!/usr/bin/env bash
# Compares two server builds on a machine whose speed drifts: both serve at once, each on its own
# port and database, and the load generator alternates between them in short bursts (A B, then
# B A, ...), one at a time, so a slow minute falls on both. Each burst prints its calls/s and the
# server's CPU time per call (user + system of the server process, from /proc, over the calls
# answered), which moves less than throughput when other work shares the cores.
#   A=/tmp/old-cityserve B=target/release/cityserve BACKEND=sqlite SCENARIOS="get submit" \
#     ROUNDS=6 crates/bench/pair.sh
# The demo city at $SCALE (10000) contacts is loaded into each; bursts last $BURST seconds (4) at
# $CONCURRENCY (64) calls in flight. Needs what run.sh needs; PostgreSQL databases
# cityserve_pair_a and cityserve_pair_b are dropped and made again.
set -euo pipefail
cd "$(dirname "$0")/../.."
A=${A:?the first server binary}
B=${B:?the second server binary}
BENCH=${BENCH:-target/release/cityserve-bench}
BACKEND=${BACKEND:-sqlite}
SCENARIOS=${SCENARIOS:-get submit}
ROUNDS=${ROUNDS:-6}
SCALE=${SCALE:-10000}
BURST=${BURST:-4}
C=${CONCURRENCY:-64}
OUT=${OUT:-target/bench-pair}
mkdir -p "$OUT"

# Clock ticks (1/100 s) the process has run, all its threads, user and system.
ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }

declare -A BIN PORT PID TOKEN
BIN[a]=$A BIN[b]=$B PORT[a]=50161 PORT[b]=50171
for s in a b; do
  data="$OUT/data-$s"
  rm -rf "$data"
  case $BACKEND in
    sqlite) url="sqlite://$data/cityserve.db" ;;
    pg)
      dropdb -h 127.0.0.1 -U postgres --if-exists "cityserve_pair_$s"
      createdb -h 127.0.0.1 -U postgres "cityserve_pair_$s"
      url="postgres://postgres@127.0.0.1:5432/cityserve_pair_$s" ;;
    *) echo "unknown backend $BACKEND" >&2; exit 2 ;;
  esac
  export CITYSERVE_DATABASE_URL=$url CITYSERVE_DATA_DIR=$data CITYSERVE_LISTEN=127.0.0.1:${PORT[$s]} \
    CITYSERVE_OPEN311_LISTEN=127.0.0.1:$((PORT[$s] + 1)) CITYSERVE_OPEN311_REQUESTS_PER_MINUTE=4000000000 \
    CITYSERVE_TENANT_REQUESTS_PER_SECOND=0 CITYSERVE_MAX_CONCURRENT_REQUESTS=100000 \
    CITYSERVE_BREACH_SCAN_INTERVAL=0s CITYSERVE_LOG=warn CITYSERVE_DB_MAX_CONNECTIONS=${POOL:-16}
  "${BIN[$s]}" demo --scale "$SCALE" --months 36 > "$OUT/$s-demo.txt"
  "${BIN[$s]}" serve & PID[$s]=$!
  TOKEN[$s]=$("${BIN[$s]}" token --role chief --subject chief-cso --ttl 2h)
done
trap 'kill -TERM ${PID[a]} ${PID[b]} 2>/dev/null; wait' EXIT
for s in a b; do
  for _ in $(seq 1 600); do
    "$BENCH" --target "http://127.0.0.1:${PORT[$s]}" --token x --scenario noop --concurrency 1 --connections 1 \
      --duration 0.05 --warmup 0 >/dev/null 2>&1 && break
    sleep 0.05
  done
done

burst() { # side scenario seconds json
  "$BENCH" --target "http://127.0.0.1:${PORT[$1]}" --token "${TOKEN[$1]}" --scenario "$2" --concurrency "$C" \
    --connections 4 --duration "$3" --warmup 0 --department water \
    --resident r-00000000000000000000000000000001 --json "$4" >/dev/null 2>&1
}

echo "scenario round build calls/s cpu_us_per_call errors"
for sc in $SCENARIOS; do
  for s in a b; do burst "$s" "$sc" 1 "$OUT/warm.json"; done
  for r in $(seq 1 "$ROUNDS"); do
    if [ $((r % 2)) = 1 ]; then order="a b"; else order="b a"; fi
    for s in $order; do
      before=$(ticks "${PID[$s]}")
      burst "$s" "$sc" "$BURST" "$OUT/$s-$sc-$r.json"
      after=$(ticks "${PID[$s]}")
      python3 -c "
import json; d = json.load(open('$OUT/$s-$sc-$r.json'))
print('$sc $r $s %.0f %.1f %d' % (d['throughput_per_s'], ($after - $before) * 10000 / max(d['calls'], 1), d['errors']))"
    done
  done
done
