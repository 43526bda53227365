#!/usr/bin/env bash
# The starter foundation's `npm run dev` against the sandbox's, in the same run: seconds from
# launching it to the first 200 through the Vite proxy (the foundation's /api/modules, which reads
# the user's permissions; the sandbox's /api/plugins/items/health), cold (.modkit/dev compiled anew)
# and warm (compiled, nothing changed), with DATABASE_URL (a running server: no local-database step)
# and on the project's own local database (.modkit/pg): warm (the cluster made and stopped, as
# `npm run dev` leaves it) and cold (no cluster: initdb, start and bootstrap on the way).
#
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bench/foundation-dev.sh [RUNS=5]
#
# MODKIT_BIN uses that binary instead of a release build. MODKIT_BASE_BIN=<another modkit> renders a
# second sandbox and foundation with that binary's templates (e.g. main's) and measures both in the
# same run, interleaved, so that a loaded machine's noise hits both alike. BENCH_PRIORITY=1 (root
# only) runs each measured `npm run dev` in a scheduler group of its own at nice -15: on a shared,
# loaded machine that is what comes closest to a quiet one (the load is printed either way).
# Makes and drops a database modkit_bench_foundation (BENCH_DB_NAME) on that server; as root, npm and
# the local database run as `nobody`. The untimed first runs let each project's start-up database
# check finish once on either database (.modkit/dev/db-inputs), so that a warm run is one with
# nothing to bring in step, as a user's second `npm run dev` is.
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
bins=(new)
declare -A bin=([new]=$modkit)
if [ -n "${MODKIT_BASE_BIN:-}" ]; then
  bins+=(base)
  bin[base]=$(realpath "$MODKIT_BASE_BIN")
fi
db_name=${BENCH_DB_NAME:-modkit_bench_foundation}
db_url="${admin%/*}/$db_name"
work=$(mktemp -d /tmp/modkit-bench-foundation.XXXXXX)
chmod 755 "$work"
dev=0
# first_200 runs in a command substitution: the running npm run dev's group is in $work/dev.pid (0: none;
# never `kill -- -0`, which is this script's own group).
trap 'p=$(cat "$work/dev.pid" 2>/dev/null || echo 0); [ "$p" = 0 ] || kill -INT -- -"$p" 2>/dev/null || true; sleep 1; rm -rf "$work"; psql -qAtX "$admin" -c "DROP DATABASE IF EXISTS $db_name" >/dev/null 2>&1 || true' EXIT
psql -qAtX "$admin" -c "DROP DATABASE IF EXISTS $db_name" -c "CREATE DATABASE $db_name" 2>/dev/null
as_user=()
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$work/home"
  as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$work/home" npm_config_cache="$work/home/.npm")
fi
boost=()
if [ "${BENCH_PRIORITY:-}" = 1 ]; then
  [ "$(id -u)" = 0 ] || { echo "bench/foundation-dev.sh: BENCH_PRIORITY=1 needs root" >&2; exit 2; }
  boost=(sh -c 'echo -15 > /proc/self/autogroup; exec "$@"' sh)
fi

# Each binary: a sandbox `items` (npm install once, shared) and a foundation `platform` with items adapted.
for b in "${bins[@]}"; do
  mkdir -p "$work/$b"
  (cd "$work/$b" && "${bin[$b]}" init items -q && "${bin[$b]}" init platform --foundation -q)
done
(cd "$work/new/items" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
for b in "${bins[@]}"; do
  cd "$work/$b"
  [ "$b" = new ] || ln -s "$work/new/items/node_modules" items/node_modules
  ln -s "$work/new/items/node_modules" platform/node_modules # the same packages (e2e::starter checks it)
  "${bin[$b]}" adapt items --foundation platform --from items -q
  cd - >/dev/null
done
[ "$(id -u)" = 0 ] && chown -R nobody: "$work"
for b in "${bins[@]}"; do
  (cd "$work/$b/items" && "${as_user[@]}" env DATABASE_URL="$db_url" npm run --silent bootstrap >/dev/null)
  (cd "$work/$b/platform" && "${as_user[@]}" env DATABASE_URL="$db_url" npm run --silent bootstrap >/dev/null)
done

# One start: seconds to the first 200 of $3 through Vite, then ($4 seconds later) Ctrl-C to the whole group.
first_200() { # $1 = project folder, $2 = DATABASE_URL or '' (the local database), $3 = path, $4 = linger
  local t0 t1 code url=()
  [ -n "$2" ] && url=(DATABASE_URL="$2")
  t0=$(date +%s.%N)
  (cd "$1" && exec setsid "${boost[@]}" "${as_user[@]}" env "${url[@]}" PORT=39181 VITE_PORT=39182 npm run dev >"$work/dev.log" 2>&1) &
  dev=$!
  echo "$dev" >"$work/dev.pid"
  for _ in $(seq 3000); do
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Tenant-Id: dev' -H 'X-User-Id: dev' "http://127.0.0.1:39182$3" || true)
    [ "$code" = 200 ] && break
    sleep 0.02
  done
  t1=$(date +%s.%N)
  [ "$code" = 200 ] || { echo "bench/foundation-dev.sh: no 200 from $1$3; its log:" >&2; tail -20 "$work/dev.log" >&2; exit 1; }
  sleep "${4:-0}"
  kill -INT -- -"$dev" 2>/dev/null || true
  wait "$dev" 2>/dev/null || true
  echo 0 >"$work/dev.pid"
  sleep 0.5
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
reset_db() { (cd "$1" && "${as_user[@]}" "${bin[$2]}" db reset -q >/dev/null); }
declare -A result
add() { result[$1]="${result[$1]:-} $2"; } # key, seconds

# Each local database made once, untimed: the warm rows start from a cluster made and stopped.
for b in "${bins[@]}"; do
  first_200 "$work/$b/items" '' /api/plugins/items/health >/dev/null
  first_200 "$work/$b/platform" '' /api/modules >/dev/null
done
# Untimed, before each database's warm runs: the start-up database check is given 3 s to finish (it
# brings the database in step and records it), as a user's first `npm run dev` on it has.
settle() { # $1 = DATABASE_URL or '' (the local database)
  for b in "${bins[@]}"; do
    first_200 "$work/$b/items" "$1" /api/plugins/items/health 3 >/dev/null
    first_200 "$work/$b/platform" "$1" /api/modules 3 >/dev/null
  done
}
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for b in "${bins[@]}"; do # (this drops .modkit/dev/db-inputs too: settle brings it back)
  rm -rf "$work/$b/items/.modkit/dev" "$work/$b/platform/.modkit/dev"
  add "$b sandbox cold-compile" "$(first_200 "$work/$b/items" "$db_url" /api/plugins/items/health)"
  add "$b foundation cold-compile" "$(first_200 "$work/$b/platform" "$db_url" /api/modules)"
done
settle "$db_url"
for _ in $(seq "$runs"); do # interleaved: the machine's noise hits every column alike
  for b in "${bins[@]}"; do
    add "$b sandbox warm-url" "$(first_200 "$work/$b/items" "$db_url" /api/plugins/items/health)"
    add "$b foundation warm-url" "$(first_200 "$work/$b/platform" "$db_url" /api/modules)"
  done
done
settle ''
for _ in $(seq "$runs"); do
  for b in "${bins[@]}"; do
    add "$b sandbox warm-local" "$(first_200 "$work/$b/items" '' /api/plugins/items/health)"
    add "$b foundation warm-local" "$(first_200 "$work/$b/platform" '' /api/modules)"
  done
done
for _ in $(seq "$runs"); do
  for b in "${bins[@]}"; do
    reset_db "$work/$b/platform" "$b"
    add "$b foundation cold-local" "$(first_200 "$work/$b/platform" '' /api/modules)"
  done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

echo "load average: $load_start at the start, $load_end at the end; $(nproc) CPUs; BENCH_PRIORITY=${BENCH_PRIORITY:-0}"
header="| npm run dev to the first 200 (seconds, median of $runs; runs in brackets) |"
line="| --- |"
for b in "${bins[@]}"; do
  header+=" sandbox ($b) | foundation ($b) |"
  line+=" ---: | ---: |"
done
echo "$header"
echo "$line"
row() { # title, kind
  local out="| $1 |" values
  for b in "${bins[@]}"; do
    for p in sandbox foundation; do
      values=${result["$b $p $2"]:-}
      if [ -z "$values" ]; then out+=" - |"; continue; fi
      out+=" $(printf '%s\n' $values | median) ($(echo $values)) |"
    done
  done
  echo "$out"
}
row "DATABASE_URL, cold (.modkit/dev compiled anew)" cold-compile
row "DATABASE_URL, warm" warm-url
row "local database, warm (cluster made, stopped)" warm-local
row "local database, cold (no cluster: initdb, start, bootstrap)" cold-local
echo
echo "bins: ${bins[*]} = $(for b in "${bins[@]}"; do printf '%s ' "${bin[$b]}"; done)"
