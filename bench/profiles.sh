#!/usr/bin/env bash
# The release-profile variants side by side: the dist profile (Cargo.toml: fat LTO, 1 codegen
# unit, panic = "abort", stripped) against thin LTO, no LTO with 16 codegen units (the default
# release profile's LTO and units) and the dist profile with panic = "unwind". Every variant is
# the dist profile with `--config` overrides, built from cold into its own target dir.
#
#   bench/profiles.sh build [VARIANT...]   # cold build of each (default: all), niced, /usr/bin/time -v
#   bench/profiles.sh measure [RUNS=10]    # size, gzip tarball size, `modkit init` and `modkit doctor`
#                                          # on a 200-module foundation (perf stat -r RUNS), interleaved
#
# PROFILES_DIR (default target/profiles) holds one target dir per variant and the build logs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir=${PROFILES_DIR:-$root/target/profiles}
variants=(dist thin nolto unwind)

flags() { # the --config overrides of a variant
  case $1 in
    dist) ;;
    thin) echo "--config profile.dist.lto=\"thin\" --config profile.dist.codegen-units=16" ;;
    nolto) echo "--config profile.dist.lto=false --config profile.dist.codegen-units=16" ;;
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
  command -v perf >/dev/null || { echo "bench/profiles.sh: needs perf (apt-get install linux-perf)" >&2; exit 2; }
  work=$(mktemp -d /tmp/modkit-bench-profiles.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  echo "$(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
  for v in "${variants[@]}"; do
    bin=$dir/$v/target/dist/modkit
    [ -x "$bin" ] || { echo "bench/profiles.sh: $bin is missing (bench/profiles.sh build $v)" >&2; exit 2; }
    tar -C "$(dirname "$bin")" -czf "$work/$v.tgz" modkit
    printf '%s: binary %s bytes, tar.gz %s bytes; cold build: %s; %s\n' "$v" "$(stat -c %s "$bin")" \
      "$(stat -c %s "$work/$v.tgz")" "$(timing "$dir/$v/time.txt")" "$(cat "$dir/$v/load.txt" 2>/dev/null | tr '\n' ' ')"
  done
  # The 200-module foundation of bench/doctor.sh, made once with the dist variant.
  bin=$dir/dist/target/dist/modkit
  cp -r tests/fixtures/foundation "$work/foundation"
  (cd "$work" && for i in $(seq -f "%03g" 1 200); do
    "$bin" init "m$i" -q && "$bin" adapt "m$i" --foundation foundation -q
  done)
  # perf stat -r RUNS per variant, the variants interleaved (round r of each, then the next round).
  local round per=$((runs / 2))
  for round in 1 2; do
    for v in "${variants[@]}"; do
      bin=$dir/$v/target/dist/modkit
      perf stat -r "$per" -e task-clock -x, -o "$work/doctor-$v-$round.csv" \
        taskset -c 0 "$bin" doctor "$work/foundation" -q --ignore toolchain >/dev/null
      perf stat -r "$per" -e task-clock -x, -o "$work/init-$v-$round.csv" \
        sh -c "rm -rf '$work/i' && '$bin' init items --dir '$work/i' -q" >/dev/null
    done
  done
  # task-clock (CPU ms) of each round (perf's mean over its runs); the mean of the rounds against dist's.
  for what in doctor init; do
    for v in "${variants[@]}"; do
      for r in 1 2; do awk -F, -v v="$v" '/task-clock/ {print v, $1}' "$work/$what-$v-$r.csv"; done
    done | awk -v what="$what" '{sum[$1] += $2; n[$1]++; rounds[$1] = rounds[$1] sprintf(" %.1f", $2); order[NR] = $1}
      END {base = sum["dist"] / n["dist"]
        for (i = 1; i <= NR; i++) { v = order[i]; if (seen[v]++) continue
          printf "%s %-7s task-clock %7.1f ms (rounds:%s), %.2fx dist\n", what, v, sum[v] / n[v], rounds[v], (sum[v] / n[v]) / base } }'
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
