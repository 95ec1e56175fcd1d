#!/usr/bin/env bash
# Import and export throughput through the server, on PostgreSQL (RLS on) and SQLite, each against
# the database's own bulk path on the same rows in the same run:
#   import  `cityserve import` of $ROWS CSV rows (two departments, a third with a resident's
#           e-mail), against the database loading the same file itself: PostgreSQL `\copy` into a
#           scratch table, SQLite's `.import` into one;
#   export  `cityserve export` of every feedback row (CSV, JSON Lines, Parquet, and CSV with the
#           open-data profile), against the database writing its feedback table as CSV itself:
#           `\copy (SELECT * FROM feedback) TO` and `sqlite3 -csv`.
# Each figure is rows/s from wall-clock time of the command, client and server on this machine.
#   ROWS=200000 OUT=target/transfer crates/bench/transfer.sh
# Needs: a release build (cargo build --release -p cityserve -p cityserve-bench), PostgreSQL at
# 127.0.0.1:5432 (trust, user postgres), psql, sqlite3, python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROWS=${ROWS:-200000}
OUT=${OUT:-target/transfer}
BACKENDS=${BACKENDS:-pg sqlite}
BIN=${BIN:-target/release/cityserve}
BENCH=${BENCH:-target/release/cityserve-bench}
PG=postgres://postgres@127.0.0.1:5432
PORT=${PORT:-50161}
mkdir -p "$OUT"
log() { echo "transfer: $*" >&2; }
now() { date +%s%N; }
rate() { python3 -c "import sys; print(round($1 / (($3 - $2) / 1e9)))"; }
rows_of() { python3 -c "import csv,sys; print(sum(1 for _ in csv.reader(open(sys.argv[1], newline=''))) - 1)" "$1"; }

log "writing $ROWS rows"
python3 - "$ROWS" "$OUT/history.csv" <<'EOF'
import csv, sys
rows, path = int(sys.argv[1]), sys.argv[2]
kinds = ["SURVEY_RESPONSE", "COMPLIMENT", "SUGGESTION", "QUESTION"]
with open(path, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["department", "channel", "kind", "csat", "text", "occur_time", "email"])
    for i in range(rows):
        w.writerow([
            "water" if i % 2 == 0 else "streets",
            "COMMENT_CARD" if i % 3 else "SURVEY",
            kinds[i % 4],
            1 + i % 5,
            f"card {i}: the crew was quick, the letter was not",
            f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00-05:00",
            f"r{i % 50000}@example.org" if i % 3 == 0 else "",
        ])
EOF

wait_serving() {
  for _ in $(seq 1 600); do
    if "$BENCH" --target "http://127.0.0.1:$PORT" --token x --scenario noop --concurrency 1 --connections 1 \
        --duration 0.05 --warmup 0 >/dev/null 2>&1; then return 0; fi
    sleep 0.01
  done
  log "server never served"; return 1
}

run_backend() { # name url
  local name=$1 url=$2
  export CITYSERVE_DATABASE_URL=$url CITYSERVE_DATA_DIR=$OUT/data-$name CITYSERVE_LISTEN=127.0.0.1:$PORT \
    CITYSERVE_TENANT_REQUESTS_PER_SECOND=0 CITYSERVE_MAX_CONCURRENT_REQUESTS=100000 \
    CITYSERVE_BREACH_SCAN_INTERVAL=0s CITYSERVE_LOG=warn CITYSERVE_DB_MAX_CONNECTIONS=${POOL:-16} \
    CITYSERVE_OPEN311_LISTEN=
  rm -rf "$OUT/data-$name"
  "$BIN" demo --scale 1000 --months 1 > /dev/null
  "$BIN" serve & local pid=$!
  wait_serving
  export CITYSERVE_TOKEN; CITYSERVE_TOKEN=$("$BIN" token --role chief --subject chief-cso --ttl 2h)
  local server="http://127.0.0.1:$PORT"

  log "$name: import of $ROWS rows"
  rm -f "$OUT/history.csv.errors.csv"
  local t0 t1; t0=$(now)
  "$BIN" import --server "$server" "$OUT/history.csv" >&2
  t1=$(now)
  local import_rate; import_rate=$(rate "$ROWS" "$t0" "$t1")
  # Fresh planner statistics, as autovacuum would have them after such a load (test clusters often
  # run without it): the exports' plans depend on them.
  if [ "$name" = pg ]; then psql -q "$url" -c "ANALYZE"; fi

  local base_import
  if [ "$name" = pg ]; then
    psql -q "$url" -c "DROP TABLE IF EXISTS bench_copy" \
      -c "CREATE TABLE bench_copy (department text, channel text, kind text, csat int, text text, occur_time timestamptz, email text)"
    t0=$(now); psql -q "$url" -c "\\copy bench_copy FROM '$OUT/history.csv' CSV HEADER"; t1=$(now)
    psql -q "$url" -c "DROP TABLE bench_copy"
  else
    local db=${url#sqlite://}
    sqlite3 "$db" "DROP TABLE IF EXISTS bench_copy; CREATE TABLE bench_copy (department TEXT, channel TEXT, kind TEXT, csat INTEGER, text TEXT, occur_time TEXT, email TEXT)"
    t0=$(now); sqlite3 "$db" ".import --csv --skip 1 $OUT/history.csv bench_copy"; t1=$(now)
    sqlite3 "$db" "DROP TABLE bench_copy"
  fi
  base_import=$(rate "$ROWS" "$t0" "$t1")

  local exports=""
  for variant in csv jsonl parquet open-data; do
    local file="$OUT/$name-export.$variant" flags=()
    case $variant in
      open-data) file="$OUT/$name-export-open.csv"; flags=(--open-data) ;;
      csv) file="$OUT/$name-export.csv" ;;
    esac
    log "$name: export ($variant)"
    t0=$(now)
    local said; said=$("$BIN" export --server "$server" --what feedback --out "$file" "${flags[@]}")
    t1=$(now)
    local n; n=$(echo "$said" | grep -Eo '[0-9]+ rows' | awk '{print $1}')
    exports="$exports, \"export_${variant//-/_}_rows_per_s\": $(rate "$n" "$t0" "$t1"), \"export_${variant//-/_}_rows\": $n"
  done
  local exported; exported=$(rows_of "$OUT/$name-export.csv")

  if [ "$name" = pg ]; then
    t0=$(now); psql -q "$url" -c "\\copy (SELECT * FROM feedback) TO '$OUT/$name-copy.csv' CSV HEADER"; t1=$(now)
  else
    t0=$(now); sqlite3 -csv -header "${url#sqlite://}" "SELECT * FROM feedback" > "$OUT/$name-copy.csv"; t1=$(now)
  fi
  local base_export; base_export=$(rate "$(rows_of "$OUT/$name-copy.csv")" "$t0" "$t1")
  kill -TERM $pid; wait $pid || true
  echo "{\"rows\": $ROWS, \"import_rows_per_s\": $import_rate, \"database_load_rows_per_s\": $base_import, \"exported_rows\": $exported$exports, \"database_dump_rows_per_s\": $base_export}" \
    | tee "$OUT/$name-transfer.json"
}

for backend in $BACKENDS; do
  case $backend in
    pg)
      dropdb -h 127.0.0.1 -U postgres --if-exists cityserve_transfer
      createdb -h 127.0.0.1 -U postgres cityserve_transfer
      run_backend pg "$PG/cityserve_transfer" ;;
    sqlite) run_backend sqlite "sqlite://$OUT/data-sqlite/cityserve.db" ;;
    *) log "unknown backend $backend"; exit 2 ;;
  esac
done
log "figures in $OUT"
