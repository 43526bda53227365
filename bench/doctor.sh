#!/usr/bin/env bash
# How long `modkit adapt` and `modkit doctor` take on a foundation with many modules, against the
# cost of merely reading the same files (`cat`), measured in the same run with hyperfine; then
# `modkit doctor --db` on a database of many tenant schemas, with the number of queries it sends
# (counted in the server's log, `log_statement = all`), which must not grow with the tenants.
#
#   bench/doctor.sh [N_MODULES=200] [N_TENANTS=1000]     (BENCH_LIVE=0 skips the live part)
#
# BENCH_BASELINE=<another modkit binary> (e.g. main's release build) adds its one-core doctor row to
# the same hyperfine run, and `perf stat` task-clock (CPU time, less noisy on a loaded machine) of
# both on one core, interleaved, when perf is installed. Several binaries, separated by spaces
# (`BENCH_BASELINE="/tmp/da45e73/modkit /tmp/main/modkit"`), each get their row and column.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
tenants=${2:-1000}
repo=$PWD
command -v hyperfine >/dev/null || { echo "bench/doctor.sh: needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
work=$(mktemp -d /tmp/modkit-bench-doctor.XXXXXX)
chmod 755 "$work" # the cluster runs as `postgres` when we are root
port=${BENCH_PG_PORT:-55498}
trap '"$repo"/scripts/pg.sh stop "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
cargo build --release --quiet
modkit=$PWD/target/release/modkit

cp -r tests/fixtures/foundation "$work/foundation"
cd "$work"
for i in $(seq -f "%03g" 1 "$n"); do
  "$modkit" init "m$i" -q
  "$modkit" adapt "m$i" --foundation foundation -q
done
files=$(find foundation -type f | wc -l)
echo "foundation: $n modules, $files files"
read -r -a baselines <<<"${BENCH_BASELINE:-}"
baseline=()
for b in "${baselines[@]}"; do
  baseline+=(-n "baseline $b doctor ($n modules), one core" "taskset -c 0 $b doctor foundation -q --ignore toolchain")
done
hyperfine --warmup 2 --runs 10 --export-markdown "$work/result.md" \
  -n "cat every file (floor)" "find foundation -type f -exec cat {} + > /dev/null" \
  "${baseline[@]}" \
  -n "modkit doctor ($n modules)" "$modkit doctor foundation -q --ignore toolchain" \
  -n "modkit doctor ($n modules), one core" "taskset -c 0 $modkit doctor foundation -q --ignore toolchain" \
  -n "modkit doctor ($n modules, with the toolchain; exit 1: no node_modules)" "$modkit doctor foundation -q; true" \
  -n "modkit adapt m001 (nothing to do)" "$modkit adapt m001 --foundation foundation -q" >/dev/null
cat "$work/result.md"
if [ ${#baselines[@]} -gt 0 ] && command -v perf >/dev/null; then
  cpu() { # CPU time of one run (ms, mean of 10), one core
    perf stat -x, -e task-clock -r 10 taskset -c 0 "$@" 2>&1 >/dev/null | awk -F, '/task-clock/ {print $1}'
  }
  echo
  echo "CPU time (perf stat task-clock, 10 runs, one core), interleaved: floor / ${baselines[*]} / this build"
  for _ in 1 2 3; do
    row="$(cpu sh -c 'find foundation -type f -exec cat {} + > /dev/null')"
    for b in "${baselines[@]}"; do
      row+=" / $(cpu "$b" doctor foundation -q --ignore toolchain)"
    done
    echo "$row / $(cpu "$modkit" doctor foundation -q --ignore toolchain) ms"
  done
fi

[ "${BENCH_LIVE:-1}" = 1 ] || exit 0
# Live: one sandbox bootstrapped into $tenants tenant schemas, then doctor --db.
"$repo"/scripts/pg.sh start "$work/pg" "$port" >/dev/null
base="postgres://postgres@127.0.0.1:$port"
psql -qAtX "$base/postgres" -c "CREATE DATABASE doctor"
url="$base/doctor"
"$modkit" init live --dir "$work/live" -q
seq -f "t%05g" 1 "$tenants" > "$work/tenants.txt"
schemas() { psql -qAtX "$url" -c "SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'tenant\_%'"; }
# The queries of one run, as the server logged them.
count_queries() { # $1 = tenants to drift, for a run with findings
  psql -qAtX "$url" -c "ALTER DATABASE doctor SET log_statement = 'all'"
  local before after
  before=$(grep -cE 'LOG:  (statement|execute)' "$work/pg/server.log" || true)
  "$modkit" doctor "$work/live" --db "$url" -q --ignore toolchain >/dev/null || true
  after=$(grep -cE 'LOG:  (statement|execute)' "$work/pg/server.log" || true)
  psql -qAtX "$url" -c "ALTER DATABASE doctor RESET log_statement"
  echo $((after - before))
}
echo
head -10 "$work/tenants.txt" > "$work/few.txt"
"$modkit" bootstrap --project "$work/live" --db "$url" --tenants-file "$work/few.txt" -q
echo "live: $(schemas) tenant schemas; queries sent by one doctor --db run: $(count_queries)"
"$modkit" bootstrap --project "$work/live" --db "$url" --tenants-file "$work/tenants.txt" --jobs 2 -q
schemas=$(schemas)
echo "live: $schemas tenant schemas; queries sent by one doctor --db run: $(count_queries)"
hyperfine --warmup 1 --runs 10 --export-markdown "$work/live.md" \
  -n "modkit doctor --db ($schemas tenant schemas)" "$modkit doctor $work/live --db $url -q --ignore toolchain" >/dev/null
cat "$work/live.md"
