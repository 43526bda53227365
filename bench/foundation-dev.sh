#!/usr/bin/env bash
# The starter foundation's `npm run dev` against the sandbox's, in the same run: seconds from
# launching it to the first 200 through the Vite proxy (the foundation's /api/modules, which reads
# the user's permissions; the sandbox's /api/plugins/items/health), cold (.modkit/dev compiled anew)
# and warm (compiled, nothing changed). Both use DATABASE_URL (a running server: no local-database
# step), so the difference is the foundation's own code: its registry loading each adapted module.
#
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bench/foundation-dev.sh [RUNS=5]
#
# MODKIT_BIN uses that binary instead of a release build. Makes and drops a database
# modkit_bench_foundation on that server; runs as the caller (with DATABASE_URL nothing runs initdb).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
admin=${BENCH_DATABASE_URL:?set BENCH_DATABASE_URL to a server where this role may CREATE DATABASE}
command -v curl >/dev/null || { echo "bench/foundation-dev.sh: needs curl" >&2; exit 2; }
if [ -n "${MODKIT_BIN:-}" ]; then
  modkit=$(realpath "$MODKIT_BIN")
else
  cargo build --release --quiet
  modkit=$PWD/target/release/modkit
fi
db_url="${admin%/*}/modkit_bench_foundation"
work=$(mktemp -d /tmp/modkit-bench-foundation.XXXXXX)
dev=0
trap 'kill -INT -- -$dev 2>/dev/null || true; sleep 1; rm -rf "$work"; psql -qAtX "$admin" -c "DROP DATABASE IF EXISTS modkit_bench_foundation" >/dev/null 2>&1 || true' EXIT
psql -qAtX "$admin" -c "DROP DATABASE IF EXISTS modkit_bench_foundation" -c "CREATE DATABASE modkit_bench_foundation" 2>/dev/null

cd "$work"
"$modkit" init items -q
(cd items && npm install --no-audit --no-fund --loglevel=error >/dev/null)
"$modkit" init platform --foundation -q
ln -s "$work/items/node_modules" platform/node_modules # the same packages (e2e::starter checks it)
"$modkit" adapt items --foundation platform --from items -q
(cd items && DATABASE_URL=$db_url npm run --silent bootstrap >/dev/null)
(cd platform && DATABASE_URL=$db_url npm run --silent bootstrap >/dev/null)

# One start: seconds to the first 200 of $2 through Vite, then Ctrl-C to the whole group.
first_200() { # $1 = project folder, $2 = path
  local t0 t1 code
  t0=$(date +%s.%N)
  (cd "$1" && DATABASE_URL=$db_url PORT=39181 VITE_PORT=39182 exec setsid npm run dev >"$work/dev.log" 2>&1) &
  dev=$!
  for _ in $(seq 1500); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Tenant-Id: dev' -H 'X-User-Id: dev' "http://127.0.0.1:39182$2" || true)
    [ "$code" = 200 ] && break
    sleep 0.02
  done
  t1=$(date +%s.%N)
  [ "$code" = 200 ] || { echo "bench/foundation-dev.sh: no 200 from $1$2; its log:" >&2; tail -20 "$work/dev.log" >&2; exit 1; }
  kill -INT -- -"$dev" 2>/dev/null || true
  wait "$dev" 2>/dev/null || true
  sleep 0.5
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

rm -rf items/.modkit/dev platform/.modkit/dev
sandbox_cold=$(first_200 items /api/plugins/items/health)
foundation_cold=$(first_200 platform /api/modules)
sandbox_warm=() foundation_warm=()
for _ in $(seq "$runs"); do # interleaved: the machine's noise hits both alike
  sandbox_warm+=("$(first_200 items /api/plugins/items/health)")
  foundation_warm+=("$(first_200 platform /api/modules)")
done

echo "| npm run dev to the first 200 (DATABASE_URL) | sandbox | foundation (1 adapted module) |"
echo "| --- | ---: | ---: |"
echo "| cold (.modkit/dev compiled anew) | $sandbox_cold s | $foundation_cold s |"
echo "| warm, median of $runs | $(printf '%s\n' "${sandbox_warm[@]}" | median) s | $(printf '%s\n' "${foundation_warm[@]}" | median) s |"
echo
echo "warm runs: sandbox ${sandbox_warm[*]}; foundation ${foundation_warm[*]}"
