#!/usr/bin/env bash
# Whether two modkit builds' `doctor` say the same, byte for byte: human, --format json and
# --format github, on one core and on all, with and without the toolchain check, on every
# foundation, app and sandbox under tests/fixtures and on each folder given (the bench's
# 200-module foundation, say). For a change meant to make doctor faster without changing what
# it reports (docs/performance.md).
#
#   scripts/doctor-same-output.sh OLD_MODKIT NEW_MODKIT [FOLDER...]
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 OLD_MODKIT NEW_MODKIT [FOLDER...]" >&2; exit 2; }
old=$1 new=$2
shift 2
cd "$(dirname "$0")/.."
work=$(mktemp -d /tmp/modkit-doctor-same.XXXXXX)
trap 'rm -rf "$work"' EXIT
# Copies, so that nothing either build might write (it should write nothing) reaches the fixtures.
cp -r tests/fixtures "$work/fixtures"
folders=("$@")
for d in "$work"/fixtures/foundation "$work"/fixtures/sandbox-0.1.0 "$work"/fixtures/orm/* \
  "$work"/fixtures/real/* "$work"/fixtures/real-foundations/* "$work"/fixtures/real-overlays/*; do
  [ -d "$d" ] && folders+=("$d")
done
runs=0 differ=0
for folder in "${folders[@]}"; do
  for format in human json github; do
    for cores in one all; do
      for toolchain in ignored checked; do
        args=(doctor "$folder" -q)
        [ "$format" = human ] || args+=(--format "$format")
        [ "$toolchain" = checked ] || args+=(--ignore toolchain)
        pin=()
        [ "$cores" = all ] || pin=(taskset -c 0)
        a=$("${pin[@]}" "$old" "${args[@]}" 2>&1; echo "exit $?") || true
        b=$("${pin[@]}" "$new" "${args[@]}" 2>&1; echo "exit $?") || true
        runs=$((runs + 1))
        if [ "$a" != "$b" ]; then
          differ=$((differ + 1))
          echo "DIFFERS: ${pin[*]} modkit ${args[*]}"
          diff <(echo "$a") <(echo "$b") | head -20
        fi
      done
    done
  done
done
echo "$runs runs on ${#folders[@]} folders, $differ differ"
[ "$differ" = 0 ]
