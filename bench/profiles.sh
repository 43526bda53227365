#!/usr/bin/env bash
# The release-profile variants side by side, as measured on 2026-12-07 (docs/performance.md): the
# dist profile of then (fat LTO, 1 codegen unit, panic = "abort", stripped) against thin LTO, no LTO
# with 16 codegen units (the default release profile's LTO and units) and panic = "unwind" (the
# dist profile since). Every variant is the dist profile with `--config` overrides, built from cold
# into its own target dir.
#
#   bench/profiles.sh build [VARIANT...]   # cold build of each (default: all), niced, /usr/bin/time -v
#   bench/profiles.sh measure [RUNS=10] [NAME=BINARY...]
#       size, gzip tarball size, then the CPU time (perf stat -e task-clock, RUNS runs in two
#       interleaved rounds) of `modkit init` into a temp folder and `modkit doctor` on bench/doctor.sh's
#       200-module foundation (on one core), for each variant built and each NAME=BINARY given
#       (e.g. release=target/release/modkit, the profile `cargo install` uses)
#
# PROFILES_DIR (default target/profiles) holds one target dir per variant and the build logs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir=${PROFILES_DIR:-$root/target/profiles}
variants=(dist thin nolto unwind)

flags() { # the --config overrides of a variant
  case $1 in
    dist) echo "--config profile.dist.panic=\"abort\"" ;;
    thin) echo "--config profile.dist.panic=\"abort\" --config profile.dist.lto=\"thin\" --config profile.dist.codegen-units=16" ;;
    nolto) echo "--config profile.dist.panic=\"abort\" --config profile.dist.lto=false --config profile.dist.codegen-units=16" ;;
    unwind) echo "--config profile.dist.panic=\"unwind\"" ;;
    *) echo "bench/profiles.sh: unknown variant $1 (${variants[*]})" >&2; exit 2 ;;
  esac
}

# "wall 12:34.56, CPU 1234.5 s (user 1200.0 + sys 34.5), max RSS 1234 MB" from a /usr/bin/time -v file
timing() {
  awk -F': ' '/Elapsed \(wall clock\)/ {w = $2} /User time/ {u = $2} /System time/ {s = $2}
    /Maximum resident/ {m = $2} END {printf "wall %s, CPU %.1f s (user %.1f + sys %.1f), max RSS %d MB", w, u + s, u, s, m / 1024}' "$1"
}

build() {
  local v=$1 t=$dir/$1
  mkdir -p "$t"
  rm -rf "$t/target"
  echo "$v: started $(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg)" >"$t/load.txt"
  # shellcheck disable=SC2046
  nice -n 10 /usr/bin/time -v -o "$t/time.txt" \
    cargo build --quiet --locked --profile dist --target-dir "$t/target" $(flags "$v") 2>"$t/build.log"
  echo "$v: ended $(date -u +%H:%M:%S), load $(cut -d' ' -f1-3 /proc/loadavg)" >>"$t/load.txt"
  echo "$v: $(timing "$t/time.txt")"
}

measure() {
  local runs=${1:-10} v bin
  shift || true
  command -v perf >/dev/null || { echo "bench/profiles.sh: needs perf (apt-get install linux-perf)" >&2; exit 2; }
  work=$(mktemp -d /tmp/modkit-bench-profiles.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  echo "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  # The variants built (a missing one is said and left out), then any NAME=BINARY given.
  local names=() bins=()
  for v in "${variants[@]}"; do
    bin=$dir/$v/target/dist/modkit
    if [ -x "$bin" ]; then
      names+=("$v") bins+=("$bin")
      printf '%s: cold build: %s; %s\n' "$v" "$(timing "$dir/$v/time.txt")" "$(cat "$dir/$v/load.txt" 2>/dev/null | tr '\n' ' ')"
    else
      echo "$v: not built ($bin is missing: bench/profiles.sh build $v)"
    fi
  done
  for spec in "$@"; do names+=("${spec%%=*}") bins+=("${spec#*=}"); done
  [ ${#names[@]} -gt 0 ] || { echo "bench/profiles.sh: nothing to measure" >&2; exit 2; }
  local i
  for i in "${!names[@]}"; do
    mkdir -p "$work/tar-$i" && cp "${bins[$i]}" "$work/tar-$i/modkit"
    tar -C "$work/tar-$i" -czf "$work/$i.tgz" modkit
    printf '%s: binary %s bytes, tar.gz %s bytes\n' "${names[$i]}" "$(stat -c %s "${bins[$i]}")" "$(stat -c %s "$work/$i.tgz")"
  done
  # The 200-module foundation of bench/doctor.sh, made once with the first binary.
  cp -r tests/fixtures/foundation "$work/foundation"
  (cd "$work" && for m in $(seq -f "%03g" 1 200); do
    "${bins[0]}" init "m$m" -q && "${bins[0]}" adapt "m$m" --foundation foundation -q
  done)
  # perf stat -r RUNS/2 per binary and round, the binaries interleaved (round 1 of each, then round 2).
  local round per=$((runs / 2))
  for round in 1 2; do
    for i in "${!names[@]}"; do
      perf stat -r "$per" -e task-clock -x, -o "$work/doctor-$i-$round.csv" \
        taskset -c 0 "${bins[$i]}" doctor "$work/foundation" -q --ignore toolchain >/dev/null
      perf stat -r "$per" -e task-clock -x, -o "$work/init-$i-$round.csv" \
        sh -c "rm -rf '$work/i' && '${bins[$i]}' init items --dir '$work/i' -q" >/dev/null
    done
  done
  # task-clock (CPU ms) of each round (perf's mean over its runs); the mean of both against the first's.
  for what in doctor init; do
    for i in "${!names[@]}"; do
      for r in 1 2; do awk -F, -v v="${names[$i]}" '/task-clock/ {print v, $1}' "$work/$what-$i-$r.csv"; done
    done | awk -v what="$what" '{sum[$1] += $2; n[$1]++; rounds[$1] = rounds[$1] sprintf(" %.1f", $2); order[NR] = $1}
      END {base = sum[order[1]] / n[order[1]]
        for (i = 1; i <= NR; i++) { v = order[i]; if (seen[v]++) continue
          printf "%s %-8s task-clock %7.1f ms (rounds:%s), %.2fx %s\n", what, v, sum[v] / n[v], rounds[v], (sum[v] / n[v]) / base, order[1] } }'
  done
  echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
}

case ${1:-} in
  build)
    shift
    [ $# -gt 0 ] || set -- "${variants[@]}"
    for v in "$@"; do flags "$v" >/dev/null; done
    for v in "$@"; do build "$v"; done
    ;;
  measure) shift; measure "$@" ;;
  *) echo "usage: bench/profiles.sh build [VARIANT...] | measure [RUNS]" >&2; exit 2 ;;
esac
