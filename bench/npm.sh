#!/usr/bin/env bash
# modkit from npm: `npx modkit@<v> --version` from a local registry (Verdaccio on 127.0.0.1, from
# target/npm-tools as scripts/test.sh installs it) with an empty npm cache and a warm one, and the
# launcher's overhead over running the binary directly, with node's own start-up (`node -e 0`)
# measured side by side. Prints the medians of RUNS runs, the binary's size and the tarballs'.
#
#   bench/npm.sh [BINARY] [RUNS=10]
#
# BINARY: the linux-x64 binary to pack; default the release build of scripts/npm-pack.sh
# (target/x86_64-unknown-linux-gnu/dist/modkit) when it exists, else the debug build, stripped.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
runs=${2:-10}
tools=${MODKIT_TEST_NPM_TOOLS:-$root/target/npm-tools}
[ -f "$tools/node_modules/verdaccio/package.json" ] || { echo "bench/npm.sh: Verdaccio is not in $tools (scripts/test.sh installs it)" >&2; exit 2; }
version=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -1)
work=$(mktemp -d /tmp/modkit-bench-npm.XXXXXX)
server=0
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

binary=${1:-}
if [ -z "$binary" ]; then
  binary=target/x86_64-unknown-linux-gnu/dist/modkit
  if [ ! -f "$binary" ]; then
    cargo build --quiet
    objcopy --strip-debug target/debug/modkit "$work/modkit"
    binary=$work/modkit
  fi
fi

port=$((20000 + RANDOM % 20000))
cat >"$work/verdaccio.yaml" <<EOF
storage: $work/storage
max_body_size: 300mb
listen: 127.0.0.1:$port
auth:
  htpasswd:
    file: $work/htpasswd
packages:
  '**':
    access: \$all
    publish: \$authenticated
log: { type: stdout, format: pretty, level: error }
EOF
node "$tools/node_modules/verdaccio/bin/verdaccio" --config "$work/verdaccio.yaml" >"$work/verdaccio.log" 2>&1 &
server=$!
registry=http://127.0.0.1:$port/
for _ in $(seq 100); do curl -fs "${registry}-/ping" >/dev/null 2>&1 && break; sleep 0.2; done
token=$(curl -fs -X PUT -H 'content-type: application/json' \
  -d '{"name":"bench","password":"bench-secret-1"}' "${registry}-/user/org.couchdb.user:bench" |
  node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).token))')
echo "//127.0.0.1:$port/:_authToken=$token" >"$work/npmrc"
scripts/npm-pack.sh "$work/dist" "linux-x64=$binary" 2>/dev/null
for t in "$work"/dist/modkit-cli-*.tgz "$work/dist/modkit-$version.tgz"; do
  npm publish "$t" --registry "$registry" --userconfig "$work/npmrc" --silent >/dev/null
done

export npm_config_registry=$registry npm_config_update_notifier=false npm_config_audit=false npm_config_fund=false
ms() { echo $((($(date +%s%N) - $1) / 1000000)); }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
# time_runs N cmd...: the median of N runs in ms (output discarded, failure fatal)
time_runs() {
  local n=$1 t
  shift
  for _ in $(seq "$n"); do
    t=$(date +%s%N)
    "$@" >/dev/null 2>&1 || { echo "bench/npm.sh: failed: $*" >&2; exit 1; }
    ms "$t"
  done | median
}
cold_npx() {
  local cache
  cache=$(mktemp -d "$work/cache.XXXXXX")
  (cd "$work" && npm_config_cache=$cache npx --yes "modkit@$version" --version)
}

echo "modkit $version, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), node $(node -v), npm $(npm -v)"
echo "binary: $binary, $(stat -c %s "$binary") bytes"
ls -l "$work"/dist/*.tgz | awk '{print "tarball: " $NF ", " $5 " bytes"}'
echo "npx modkit@$version --version, empty npm cache (median of 3): $(time_runs 3 cold_npx) ms"
warm=$work/warm-cache
(cd "$work" && npm_config_cache=$warm npx --yes "modkit@$version" --version >/dev/null)
echo "npx modkit@$version --version, warm npm cache: $(cd "$work" && npm_config_cache=$warm time_runs "$runs" npx --yes "modkit@$version" --version) ms"
# npx is npm: nothing run through it starts faster than npm itself. Its floor, in the same run:
echo "npm's own start (npm --version), the floor of any npx: $(cd "$work" && npm_config_cache=$warm time_runs "$runs" npm --version) ms"
echo "npx --version (npm exec's start, nothing resolved): $(cd "$work" && npm_config_cache=$warm time_runs "$runs" npx --version) ms"
mkdir -p "$work/project" && cd "$work/project" && echo '{"private":true}' >package.json
npm install --silent "modkit@$version" >/dev/null
echo "npx modkit --version, in a project that has it: $(time_runs "$runs" npx modkit --version) ms"
direct=node_modules/@modkit/cli-linux-x64/modkit
# Wall time and CPU time (user + system, from getrusage: less sensitive to a loaded machine),
# interleaved, medians of RUNS rounds.
echo "side by side, interleaved, median of $runs:"
python3 - "$runs" "$direct" <<'PY'
import resource, statistics, subprocess, sys, time
runs, direct = int(sys.argv[1]), sys.argv[2]
cases = [("the binary directly (modkit --version)", [direct, "--version"]),
         ("node's own start (node -e 0)", ["node", "-e", "0"]),
         ("the launcher (node_modules/.bin/modkit --version)", ["node_modules/.bin/modkit", "--version"])]
wall = {n: [] for n, _ in cases}
cpu = {n: [] for n, _ in cases}
for _ in range(runs):
    for name, cmd in cases:
        r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
        t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        wall[name].append((t1 - t0) * 1000)
        cpu[name].append((r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1000)
for name, _ in cases:
    print(f"  {name:52s} wall {statistics.median(wall[name]):7.1f} ms   cpu {statistics.median(cpu[name]):6.1f} ms")
PY
