#!/usr/bin/env bash
# modkit from npm: `npx modkit@<v> --version` from a local registry (Verdaccio on 127.0.0.1, from
# target/npm-tools as scripts/test.sh installs it) with an empty npm cache and a warm one, and the
# launcher's overhead over running the binary directly, with node's and npm's own start-up
# measured side by side, for both shapes of the installed package: the JS launcher as bin (what
# --ignore-scripts gives) and the native binary the postinstall puts in its place. Prints the
# medians of RUNS runs (wall and CPU), the registry requests of a warm npx, the binary's size and
# the tarballs'.
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
# The two shapes of the installed package, side by side: "launcher", bin/modkit.js the JS launcher
# (what --ignore-scripts, pnpm, Yarn and Windows get: the package before the postinstall), and
# "native", the binary put in its place by the postinstall (npm/modkit/lib/install.js).
ignore() { [ "$1" = launcher ] && echo --ignore-scripts || true; }

echo "modkit $version, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), node $(node -v), npm $(npm -v)"
echo "binary: $binary, $(stat -c %s "$binary") bytes"
ls -l "$work"/dist/*.tgz | awk '{print "tarball: " $NF ", " $5 " bytes"}'

# Cold: an empty npm cache each run, the shapes interleaved.
cd "$work"
for _ in 1 2 3; do
  for shape in launcher native; do
    cache=$(mktemp -d "$work/cache.XXXXXX")
    t=$(date +%s%N)
    # shellcheck disable=SC2046
    npm_config_cache=$cache npx --yes $(ignore $shape) "modkit@$version" --version >/dev/null
    echo "$shape $((($(date +%s%N) - t) / 1000000))"
  done
done >"$work/cold.txt"
for shape in launcher native; do
  echo "npx modkit@$version --version, empty npm cache, $shape (median of 3): $(awk -v s=$shape '$1 == s {print $2}' "$work/cold.txt" | sort -n | sed -n 2p) ms"
done

# Warm: one npm cache per shape, and a project with modkit installed per shape.
for shape in launcher native; do
  # shellcheck disable=SC2046
  npm_config_cache=$work/warm-$shape npx --yes $(ignore $shape) "modkit@$version" --version >/dev/null
  mkdir -p "$work/project-$shape"
  (cd "$work/project-$shape" &&
    echo '{"private": true, "scripts": {"v": "modkit --version"}}' >package.json &&
    # shellcheck disable=SC2046
    npm_config_cache=$work/warm-$shape npm install --silent $(ignore $shape) "modkit@$version" >/dev/null)
done
head -c 4 "$work/project-native/node_modules/.bin/modkit" | grep -q ELF || { echo "bench/npm.sh: the postinstall did not put the binary in place" >&2; exit 1; }
# npm's http log: "(cache revalidated)" is a request answered 304, "(cache stale)" or "(cache hit)" none.
requests() {
  npm_config_cache=$work/warm-native npx --yes --loglevel http "$@" "modkit@$version" --version 2>&1 >/dev/null |
    grep 'http fetch' | grep -cv 'cache stale\|cache hit' || true
}
echo "registry requests of one warm npx: $(requests), with --prefer-offline: $(requests --prefer-offline)"

# Wall time and CPU time (user + system of the whole process tree, from getrusage: less sensitive
# to a loaded machine), interleaved, medians of RUNS rounds.
echo "side by side, interleaved, median of $runs (wall, CPU):"
python3 - "$runs" "$work" "$version" "$(npm root -g)/npm/node_modules/libnpmexec" <<'PY'
import os, resource, statistics, subprocess, sys, time
runs, work, version, libnpmexec = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
spec = f"modkit@{version}"
def at(shape, cwd=None, cache=None):
    env = dict(os.environ, npm_config_cache=f"{work}/warm-{cache or shape}")
    return {"cwd": cwd or work, "env": env}
proj = lambda shape: f"{work}/project-{shape}"
cases = [
    ("node's own start: node -e 0", ["node", "-e", "0"], at("native")),
    ("npm's own start: npm --version", ["npm", "--version"], at("native")),
    ("npx --version (npm exec, nothing resolved)", ["npx", "--version"], at("native")),
    ("npm's exec code loaded, nothing run: node -e require(libnpmexec)",
     ["node", "-e", "require(process.argv[1])", libnpmexec], at("native")),
]
for shape in ("launcher", "native"):
    cases += [
        (f"[{shape}] npx {spec} --version, warm cache", ["npx", "--yes", spec, "--version"], at(shape)),
        (f"[{shape}] the same, --prefer-offline", ["npx", "--yes", "--prefer-offline", spec, "--version"], at(shape)),
        (f"[{shape}] npx modkit --version, in a project", ["npx", "modkit", "--version"], at(shape, proj(shape))),
        (f"[{shape}] npm run v (modkit --version), in a project", ["npm", "run", "--silent", "v"], at(shape, proj(shape))),
        (f"[{shape}] node_modules/.bin/modkit --version", ["node_modules/.bin/modkit", "--version"], at(shape, proj(shape))),
    ]
cases.append(("the binary itself", ["node_modules/@modkit/cli-linux-x64/modkit", "--version"], at("native", proj("native"))))
wall = {c[0]: [] for c in cases}
cpu = {c[0]: [] for c in cases}
for _ in range(runs):
    for name, cmd, kw in cases:
        r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True, **kw)
        t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        wall[name].append((t1 - t0) * 1000)
        cpu[name].append((r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1000)
for name, _, _ in cases:
    print(f"  {name:66s} wall {statistics.median(wall[name]):7.1f} ms   cpu {statistics.median(cpu[name]):6.1f} ms")
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
