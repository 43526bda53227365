#!/usr/bin/env bash
# modkit from npm: `npx modkit@<v> --version` from a local registry (Verdaccio on 127.0.0.1, from
# target/npm-tools as scripts/test.sh installs it) with an empty npm cache and a warm one, and the
# launcher's overhead over running the binary directly, with node's and npm's own start-up
# measured side by side, for both shapes of the installed package: the JS launcher as bin (what
# --ignore-scripts, Yarn and pnpm give) and the native binary the postinstall puts in its place.
# Prints the medians of RUNS runs (wall and CPU, and the registry's CPU), a warm npx's registry
# requests and Verdaccio's own time for the one it makes, the binary's size and the tarballs';
# variants of the package published beside it (one optional dependency instead of seven; 31
# versions in the packument) and an empty global prefix in the same rounds; and one warm npx
# broken into its steps by bench/npx-probe.cjs.
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
for tool in verdaccio yarn pnpm; do
  [ -f "$tools/node_modules/$tool/package.json" ] || { echo "bench/npm.sh: $tool is not in $tools (scripts/test.sh installs it)" >&2; exit 2; }
done
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
# Every platform package, as a release publishes them (the launcher lists all seven as optional
# dependencies; a registry that lacks six answers 404 to a cold install, and Yarn classic fails):
# linux-x64 holds BINARY, the others a placeholder.
printf 'placeholder\n' >"$work/placeholder"
platforms=("linux-x64=$binary")
for key in $(node -p 'require("./npm/platforms.json").platforms.map((p) => p.key).filter((k) => k !== "linux-x64").join(" ")'); do
  platforms+=("$key=$work/placeholder")
done
scripts/npm-pack.sh "$work/dist" "${platforms[@]}" 2>/dev/null
for t in "$work"/dist/modkit-cli-*.tgz "$work/dist/modkit-$version.tgz"; do
  npm publish "$t" --registry "$registry" --userconfig "$work/npmrc" --silent >/dev/null
done

# Variants of the launcher package, published beside it under other names, so that one run compares
# them on the same registry and binary: modkit-one-platform lists only @modkit/cli-linux-x64 as an
# optional dependency (does a warm npx touch the other six?), modkit-many-versions has 30 releases
# before this one in its packument (the packument after years of releases).
variant() { # NAME VERSION [OPTIONAL-DEPENDENCY]: the launcher's tarball renamed, into $work/variants
  local dir=$work/variants/$1-$2
  mkdir -p "$dir"
  tar -xzf "$work/dist/modkit-$version.tgz" -C "$dir" --strip-components=1
  node -e 'const f = process.argv[1] + "/package.json", p = require(f);
    p.name = process.argv[2]; p.version = process.argv[3];
    if (process.argv[4]) p.optionalDependencies = { [process.argv[4]]: p.optionalDependencies[process.argv[4]] };
    require("fs").writeFileSync(f, JSON.stringify(p, null, 2));' "$dir" "$@"
}
variant modkit-one-platform "$version" @modkit/cli-linux-x64
variant modkit-many-versions "$version"
# One after the other: Verdaccio refuses concurrent publishes of one package.
for i in $(seq 0 29); do
  variant modkit-many-versions "0.1.$i"
  npm publish "$work/variants/modkit-many-versions-0.1.$i" --registry "$registry" --userconfig "$work/npmrc" --silent >/dev/null
done
for dir in "$work/variants/modkit-one-platform-$version" "$work/variants/modkit-many-versions-$version"; do
  npm publish "$dir" --registry "$registry" --userconfig "$work/npmrc" --silent >/dev/null
done

export npm_config_registry=$registry npm_config_update_notifier=false npm_config_audit=false npm_config_fund=false
# The two shapes of the installed package, side by side: "launcher", bin/modkit.js the JS launcher
# (what --ignore-scripts, pnpm, Yarn and Windows get: the package before the postinstall), and
# "native", the binary put in its place by the postinstall (npm/modkit/lib/install.js).
ignore() { [ "$1" = launcher ] && echo --ignore-scripts || true; }

echo "modkit $version, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), node $(node -v), npm $(npm -v)"
echo "binary: $binary, $(stat -c %s "$binary") bytes; platform packages published: ${#platforms[@]}"
ls -l "$work"/dist/*.tgz | awk '{print "tarball: " $NF ", " $5 " bytes"}'

# Cold: an empty npm cache each run, the shapes interleaved, after one run not counted (the
# registry's first answers after the publishes).
cd "$work"
npm_config_cache=$(mktemp -d "$work/cache.XXXXXX") npx --yes "modkit@$version" --version >/dev/null
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
  echo '{"private": true, "scripts": {"v": "modkit --version"}}' >"$work/project-$shape/package.json"
  # shellcheck disable=SC2046
  (cd "$work/project-$shape" && npm_config_cache=$work/warm-$shape npm install --silent $(ignore $shape) "modkit@$version" >/dev/null)
done
for name in modkit-one-platform modkit-many-versions; do
  npm_config_cache=$work/warm-native npx --yes "$name@$version" --version >/dev/null
done
# And installed by Yarn classic and by pnpm (from target/npm-tools, as scripts/test.sh installs
# them): both leave the JS launcher as the bin (docs/install.md), pnpm behind a shell shim.
for manager in yarn pnpm; do
  mkdir -p "$work/project-$manager"
  (cd "$work/project-$manager" &&
    echo '{"name": "p", "version": "1.0.0", "private": true, "license": "MIT"}' >package.json &&
    YARN_CACHE_FOLDER=$work/yarn-cache npm_config_store_dir=$work/pnpm-store \
      "$tools/node_modules/.bin/$manager" add "modkit@$version" >/dev/null 2>&1)
done
mkdir -p "$work/empty-prefix"
head -c 4 "$work/project-native/node_modules/.bin/modkit" | grep -q ELF || { echo "bench/npm.sh: the postinstall did not put the binary in place" >&2; exit 1; }
# npm's http log: "(cache revalidated)" is a request answered 304, "(cache stale)" or "(cache hit)" none.
requests() {
  npm_config_cache=$work/warm-native npx --yes --loglevel http "$@" "modkit@$version" --version 2>&1 >/dev/null |
    grep 'http fetch' | grep -v 'cache stale\|cache hit' | sed 's/^npm http fetch /    /' || true
}
echo "registry requests of one warm npx:"
requests
echo "with --prefer-offline: $(requests --prefer-offline | wc -l)"
# Verdaccio's own answer to that request (curl, npm's Accept header and the ETag npm would send),
# and the packument's size: what the revalidation costs on the registry's side.
accept='application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8, */*'
etag=$(curl -fsS -D - -o "$work/packument.json" -H "accept: $accept" "${registry}modkit" | tr -d '\r' | sed -n 's/^etag: //Ip')
echo "packument of modkit (abbreviated): $(stat -c %s "$work/packument.json") bytes, etag ${etag:-none}"
echo "packument of modkit-many-versions (abbreviated): $(curl -fsS -H "accept: $accept" "${registry}modkit-many-versions" | wc -c) bytes"
for _ in $(seq "$runs"); do
  curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -H "accept: $accept" -H "if-none-match: $etag" "${registry}modkit"
done | sort -k2 -n | awk '{a[NR]=$2; c=$1} END {printf "Verdaccio alone, that request (curl, median of %d): HTTP %s in %.1f ms\n", NR, c, a[int((NR+1)/2)]*1000}'

# Wall time and CPU time (user + system of the whole process tree, from getrusage: less sensitive
# to a loaded machine), interleaved, medians of RUNS rounds.
echo "side by side, interleaved, median of $runs (wall, CPU):"
# One round first, not counted: the first runs after the installs find colder file caches and a
# Verdaccio that has not yet answered this request. The registry's own CPU time (Verdaccio shares
# these cores with npx) is read from /proc around each npx run.
BENCH_NPM_TOOLS=$tools python3 - "$runs" "$work" "$version" "$(npm root -g)/npm/node_modules/libnpmexec" "$server" <<'PY'
import os, resource, statistics, subprocess, sys, time
runs, work, version, libnpmexec, server = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
tick = os.sysconf("SC_CLK_TCK")
def server_cpu():
    with open(f"/proc/{server}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / tick
spec = f"modkit@{version}"
def at(shape, cwd=None, cache=None, **more):
    env = dict(os.environ, npm_config_cache=f"{work}/warm-{cache or shape}", **more)
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
tools = os.environ["BENCH_NPM_TOOLS"]
cases += [
    ("[yarn] node_modules/.bin/modkit --version (link to the launcher)", ["node_modules/.bin/modkit", "--version"], at("native", proj("yarn"))),
    ("[yarn] yarn --silent modkit --version", [f"{tools}/node_modules/.bin/yarn", "--silent", "modkit", "--version"], at("native", proj("yarn"))),
    ("[pnpm] node_modules/.bin/modkit --version (shim, node, launcher)", ["node_modules/.bin/modkit", "--version"], at("native", proj("pnpm"))),
    ("[pnpm] pnpm exec modkit --version", [f"{tools}/node_modules/.bin/pnpm", "exec", "modkit", "--version"], at("native", proj("pnpm"))),
    ("[native] npx modkit-one-platform@... (1 optional dependency, not 7)", ["npx", "--yes", f"modkit-one-platform@{version}", "--version"], at("native")),
    ("[native] npx modkit-many-versions@... (31 versions in the packument)", ["npx", "--yes", f"modkit-many-versions@{version}", "--version"], at("native")),
    ("[native] npx modkit@..., an empty global prefix (npm_config_prefix)", ["npx", "--yes", spec, "--version"], at("native", npm_config_prefix=f"{work}/empty-prefix")),
]
cases.append(("the binary itself", ["node_modules/@modkit/cli-linux-x64/modkit", "--version"], at("native", proj("native"))))
wall = {c[0]: [] for c in cases}
cpu = {c[0]: [] for c in cases}
registry_cpu = {c[0]: [] for c in cases}
for round in range(runs + 1):
    for name, cmd, kw in cases:
        s0, r0, t0 = server_cpu(), resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True, **kw)
        t1, r1, s1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN), server_cpu()
        if round == 0:
            continue
        wall[name].append((t1 - t0) * 1000)
        cpu[name].append((r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) * 1000)
        registry_cpu[name].append(s1 - s0)
print(f"  {'':66s} {'wall':>12s} {'cpu':>12s}  {'registry cpu (mean)':>20s}")
for name, _, _ in cases:
    print(f"  {name:66s} {statistics.median(wall[name]):9.1f} ms {statistics.median(cpu[name]):9.1f} ms  {statistics.mean(registry_cpu[name]):17.1f} ms")
PY

# Where the milliseconds of one warm npx go: npm run with bench/npx-probe.cjs preloaded, which marks
# each step (ms since the process started); medians of RUNS runs, native shape.
echo "one warm npx modkit@$version --version, step by step (bench/npx-probe.cjs, median of $runs):"
rm -f "$work/probe.jsonl"
for _ in $(seq "$runs"); do
  NPX_PROBE_OUT=$work/probe.jsonl NODE_OPTIONS="--require $root/bench/npx-probe.cjs" npm_config_cache=$work/warm-native \
    npx --yes "modkit@$version" --version >/dev/null
done
python3 - "$work/probe.jsonl" "$(dirname "$(npm root -g)")" <<'PY'
import json, re, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
prefix = re.escape(sys.argv[2])  # npm's global folder, /usr/lib here
def step(marks, start, end=None):
    """From the first mark matching `start` to the last matching `end` (or `start`'s own end)."""
    end = end or start.replace(" start", " end")
    s = [t for t, w in marks if re.fullmatch(start, w)]
    e = [t for t, w in marks if re.fullmatch(end, w)]
    return (e[-1] - s[0]) if s and e else 0.0
steps = [
    ("node starts (to npm's first line)", lambda m: m[0][0]),
    ("npm: loads its config, dispatches to exec", lambda m: step(m, "preload", "require libnpmexec start")),
    ("require libnpmexec (arborist, pacote, npm-registry-fetch)", lambda m: step(m, "require libnpmexec start")),
    ("exec: reads the current folder's package.json (pacote.manifest .)", lambda m: step(m, r"pacote.manifest /.* start", r"pacote.manifest /.* end")),
    ("Arborist loadActual of the current folder", lambda m: step(m, rf"arborist.loadActual (?!{prefix} |.*_npx).* start", rf"arborist.loadActual (?!{prefix} |.*_npx).* end")),
    ("the packument: pacote.manifest modkit@<v> (preferOnline)", lambda m: step(m, r"pacote.manifest modkit@.* start", r"pacote.manifest modkit@.* end")),
    ("  of which the registry round trip (request to last byte)", lambda m: step(m, "http request", "http end")),
    ("Arborist loadActual of the global prefix (is it installed -g?)", lambda m: step(m, rf"arborist.loadActual {prefix} start", rf"arborist.loadActual {prefix} end")),
    ("Arborist loadActual of the _npx cache folder", lambda m: step(m, r"arborist.loadActual .*_npx.* start", r"arborist.loadActual .*_npx.* end")),
    ("sh -c 'modkit' --version: spawn to exit", lambda m: step(m, "spawn .*", "child exit")),
    ("everything between those steps, and npm's exit", None),
    ("total, process start to exit", lambda m: m[-1][0]),
]
values = {name: [] for name, _ in steps}
for marks in runs:
    total, counted = marks[-1][0], 0.0
    for name, f in steps:
        if f is None:
            continue
        v = f(marks)
        values[name].append(v)
        if not name.startswith("  ") and not name.startswith("total"):
            counted += v
    values["everything between those steps, and npm's exit"].append(total - counted)
for name, _ in steps:
    print(f"  {name:68s} {statistics.median(values[name]):7.1f} ms")
PY
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
