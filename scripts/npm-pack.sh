#!/usr/bin/env bash
# Write every npm package of modkit as an `npm pack` tarball into OUTDIR, ready for `npm publish`
# (publishing is a human step, or .github/workflows/release.yml's last job).
#
#   scripts/npm-pack.sh OUTDIR                     # build what this machine can, then pack
#   scripts/npm-pack.sh OUTDIR KEY=BINARY ...      # pack binaries built elsewhere (no build)
#
# The packages: `modkit` (the launcher, npm/modkit), `create-modkit` (npm/create-modkit), and one
# `@modkit/cli-KEY` per binary (KEY from npm/platforms.json: linux-x64, darwin-arm64, ...). The
# version of every one is Cargo.toml's, so the binary, the launcher and its optionalDependencies
# cannot differ.
#
# What "this machine can build": on Linux x86-64, linux-x64 for glibc 2.17 with cargo-zigbuild
# (`pip install cargo-zigbuild ziglang`; the x86_64-unknown-linux-gnu standard library is the one
# rustup installs by default), stripped by the dist profile (Cargo.toml); its glibc symbols are checked with
# objdump (none newer than GLIBC_2.17). Other targets come from the release workflow's runners.
set -euo pipefail
say() { printf 'npm-pack.sh: %s\n' "$*" >&2; }

[ $# -ge 1 ] || { say "usage: scripts/npm-pack.sh OUTDIR [KEY=BINARY ...]"; exit 2; }
out=$1
shift
mkdir -p "$out"
out=$(cd "$out" && pwd)
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

version=$(sed -n '/^\[package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml | head -1)
[ -n "$version" ] || { say "no version in Cargo.toml's [package]"; exit 2; }
command -v node >/dev/null && command -v npm >/dev/null || { say "node and npm are needed (Node.js 18 or later)"; exit 2; }

# The highest GLIBC_x.y a binary needs, from its dynamic symbol table.
glibc_ceiling() {
  objdump -T "$1" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -t. -k1,1n -k2,2n -k3,3n | tail -1
}

binaries=("$@")
if [ ${#binaries[@]} -eq 0 ]; then
  case "$(uname -s)-$(uname -m)" in
    Linux-x86_64)
      command -v cargo-zigbuild >/dev/null || { say "cargo-zigbuild is needed to build for glibc 2.17: pip install cargo-zigbuild ziglang"; exit 2; }
      say "building modkit $version for linux-x64 (glibc 2.17) with cargo zigbuild --profile dist"
      cargo zigbuild --profile dist --locked --target x86_64-unknown-linux-gnu.2.17 >&2
      bin=target/x86_64-unknown-linux-gnu/dist/modkit
      if command -v objdump >/dev/null; then
        ceiling=$(glibc_ceiling "$bin")
        if [ "$(printf '%s\n2.17\n' "$ceiling" | sort -t. -k1,1n -k2,2n | tail -1)" != 2.17 ]; then
          say "$bin needs GLIBC_$ceiling, newer than 2.17: it would not run on older distributions"
          exit 1
        fi
        say "$bin: newest glibc symbol GLIBC_$ceiling, $(stat -c %s "$bin") bytes"
      else
        say "objdump is missing (apt-get install binutils): the glibc ceiling was not checked"
        exit 2
      fi
      binaries=("linux-x64=$bin")
      ;;
    *)
      say "this script builds only on Linux x86-64; elsewhere pass KEY=BINARY (see .github/workflows/release.yml)"
      exit 2
      ;;
  esac
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
node npm/stage.js "$version" "$stage" "${binaries[@]}"

for dir in "$stage"/*/; do
  (cd "$dir" && npm pack --silent --pack-destination "$out" >/dev/null)
done
say "modkit $version: $(cd "$out" && ls -1 ./*.tgz | wc -l) package(s) in $out"
ls -l "$out"/*"$version".tgz >&2
