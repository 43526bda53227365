#!/usr/bin/env bash
# How long `modkit adapt` and `modkit doctor` take on a foundation with many modules, against the
# cost of merely reading the same files (`cat`), measured in the same run with hyperfine.
#
#   bench/doctor.sh [N_MODULES=200]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
command -v hyperfine >/dev/null || { echo "bench/doctor.sh: needs hyperfine (apt-get install hyperfine)" >&2; exit 2; }
work=$(mktemp -d /tmp/modkit-bench-doctor.XXXXXX)
trap 'rm -rf "$work"' EXIT
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
hyperfine --warmup 2 --runs 10 --export-markdown "$work/result.md" \
  -n "cat every file (floor)" "find foundation -type f -exec cat {} + > /dev/null" \
  -n "modkit doctor ($n modules)" "$modkit doctor foundation -q" \
  -n "modkit adapt m001 (nothing to do)" "$modkit adapt m001 --foundation foundation -q" >/dev/null
cat "$work/result.md"
