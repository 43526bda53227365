#!/usr/bin/env bash
# Run the Linux binaries scripts/npm-pack.sh built (dist profile) as the host build runs:
# `--version`, `init items`, `doctor items`, compared transcript for transcript and file for file
# (tests/it/cross.rs). The arm64 ones run under qemu-user; the arm64 glibc one needs Debian's
# libc6-arm64-cross as its sysroot.
#
#   scripts/npm-pack.sh OUTDIR && scripts/cross-check.sh
#
# scripts/test.sh runs the same test on a debug linux-arm64-musl build only (the cheap one).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
say() { printf 'cross-check.sh: %s\n' "$*" >&2; }

binaries=()
while read -r key target; do
  bin=target/$target/dist/modkit
  if [ -f "$bin" ]; then
    binaries+=("$key=$PWD/$bin")
  else
    say "no $bin (scripts/npm-pack.sh builds it): $key not checked"
  fi
done < <(node -e 'for (const p of require("./npm/platforms.json").platforms) if (p.os === "linux") console.log(p.key, p.target)')
[ ${#binaries[@]} -gt 0 ] || { say "no dist binary: run scripts/npm-pack.sh OUTDIR first"; exit 2; }

MODKIT_TEST_CROSS_BINARIES=$(IFS=,; echo "${binaries[*]}") \
  cargo test --locked --test it -- --exact cross::cross_built_linux_binaries_init_and_doctor_as_the_host_build_does --nocapture
