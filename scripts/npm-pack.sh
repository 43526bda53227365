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
# What "this machine can build": on Linux x86-64, the four Linux targets, linked by cargo-zigbuild
# (`pip install cargo-zigbuild ziglang`) in the dist profile (Cargo.toml): linux-x64 and
# linux-arm64 against glibc 2.17, linux-x64-musl and linux-arm64-musl statically against musl.
# A target whose Rust standard library is missing is added with `rustup target add`; where that
# cannot be done the target is left to the release workflow, said on stderr. MODKIT_NPM_TARGETS
# (comma-separated keys, e.g. `linux-x64,linux-arm64`) narrows the set; a target named there must
# build. Each binary is checked before it is packed: its ELF machine; the glibc builds need no
# symbol newer than GLIBC_2.17 (objdump -T; for arm64 aarch64-linux-gnu-objdump or llvm-objdump);
# the musl builds have no interpreter and no shared library (readelf). darwin-* and win32-x64 always
# come from the release workflow's runners (.github/workflows/release.yml).
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

# The highest GLIBC_x.y a binary needs, from its dynamic symbol table (objdump -T of the binary's
# architecture: the host's binutils reads only x86-64).
glibc_ceiling() { # BINARY OBJDUMP
  "$2" -T "$1" | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -t. -k1,1n -k2,2n -k3,3n | tail -1
}

# The objdump that reads ARCH's ELF files (x86-64 or AArch64), or nothing.
objdump_for() {
  local tool
  case "$1" in
    x86-64) tool=objdump ;;
    *) tool=$(command -v aarch64-linux-gnu-objdump || command -v llvm-objdump || true) ;;
  esac
  [ -n "$tool" ] && command -v "$tool"
}

# Whether TARGET's Rust standard library is installed (rustup's or a distribution's toolchain).
has_std() {
  [ -d "$(rustc --print sysroot)/lib/rustlib/$1/lib" ]
}

# Build KEY (a Linux entry of npm/platforms.json) with cargo zigbuild and check it; prints the
# binary's path. ZIG_TARGET is the target cargo-zigbuild is given (x86_64-unknown-linux-gnu.2.17).
build_linux() { # KEY TARGET ZIG_TARGET
  local key=$1 target=$2 zig_target=$3 bin started seconds machine want arch tool ceiling
  bin=target/$target/dist/modkit
  say "building modkit $version for $key: cargo zigbuild --profile dist --locked --target $zig_target"
  started=$(date +%s)
  cargo zigbuild --profile dist --locked --target "$zig_target" </dev/null >&2
  seconds=$(($(date +%s) - started))
  machine=$(readelf -h "$bin" | sed -n 's/^ *Machine: *//p')
  case "$target" in
    x86_64-*) want="Advanced Micro Devices X86-64" arch=x86-64 ;;
    aarch64-*) want=AArch64 arch=aarch64 ;;
  esac
  [ "$machine" = "$want" ] || { say "$bin is built for '$machine', not $want"; exit 1; }
  case "$target" in
    *-musl)
      # Static: no program interpreter and no shared library, so it runs on any Linux of its CPU.
      if readelf -lW "$bin" | grep -q 'INTERP' || readelf -dW "$bin" | grep -q '(NEEDED)'; then
        say "$bin is not statically linked: $(file -b "$bin")"
        exit 1
      fi
      say "$key: $bin, statically linked, $(stat -c %s "$bin") bytes, built in ${seconds}s"
      ;;
    *)
      tool=$(objdump_for "$arch") || {
        say "no objdump reads $arch binaries: apt-get install binutils-aarch64-linux-gnu (or llvm); the glibc ceiling of $bin was not checked"
        exit 2
      }
      ceiling=$(glibc_ceiling "$bin" "$tool")
      if [ -z "$ceiling" ] || [ "$(printf '%s\n2.17\n' "$ceiling" | sort -t. -k1,1n -k2,2n | tail -1)" != 2.17 ]; then
        say "$bin needs GLIBC_${ceiling:-?}, newer than 2.17: it would not run on older distributions"
        exit 1
      fi
      say "$key: $bin, newest glibc symbol GLIBC_$ceiling, $(stat -c %s "$bin") bytes, built in ${seconds}s"
      ;;
  esac
  binaries+=("$key=$bin")
}

binaries=("$@")
if [ ${#binaries[@]} -eq 0 ]; then
  [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] || {
    say "this script builds only on Linux x86-64; elsewhere pass KEY=BINARY (see .github/workflows/release.yml)"
    exit 2
  }
  command -v cargo-zigbuild >/dev/null || { say "cargo-zigbuild is needed to build the Linux binaries: pip install cargo-zigbuild ziglang"; exit 2; }
  command -v objdump >/dev/null && command -v readelf >/dev/null || { say "objdump and readelf are needed to check the binaries: apt-get install binutils"; exit 2; }
  # key target zig-target, one line per Linux platform of npm/platforms.json.
  linux=$(node -e '
    for (const p of require("./npm/platforms.json").platforms)
      if (p.os === "linux") console.log(p.key, p.target, p.zig_target || p.target);')
  wanted=${MODKIT_NPM_TARGETS:-}
  for key in ${wanted//,/ }; do
    grep -q "^$key " <<<"$linux" || { say "MODKIT_NPM_TARGETS: $key is not a Linux key of npm/platforms.json ($(cut -d' ' -f1 <<<"$linux" | paste -sd,))"; exit 2; }
  done
  built=() left=() not_asked=()
  while read -r key target zig_target; do
    if [ -n "$wanted" ] && [[ ",$wanted," != *",$key,"* ]]; then
      not_asked+=("$key")
      continue
    fi
    if ! has_std "$target"; then
      say "the Rust standard library for $target is missing: rustup target add $target"
      if ! { command -v rustup >/dev/null && rustup target add "$target" </dev/null >&2; }; then
        [ -n "$wanted" ] && { say "$key was asked for in MODKIT_NPM_TARGETS and cannot be built here"; exit 2; }
        left+=("$key")
        continue
      fi
    fi
    build_linux "$key" "$target" "$zig_target"
    built+=("$key")
  done <<<"$linux"
  [ ${#built[@]} -gt 0 ] || { say "nothing was built (MODKIT_NPM_TARGETS=$wanted)"; exit 2; }
  mapfile -t -O ${#left[@]} left < <(node -e 'for (const p of require("./npm/platforms.json").platforms) if (p.os !== "linux") console.log(p.key)')
  say "built here: ${built[*]}; left to .github/workflows/release.yml: ${left[*]}${not_asked[*]:+; not asked for in MODKIT_NPM_TARGETS: ${not_asked[*]}}"
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
node npm/stage.js "$version" "$stage" "${binaries[@]}"

for dir in "$stage"/*/; do
  (cd "$dir" && npm pack --silent --pack-destination "$out" >/dev/null)
done
say "modkit $version: $(cd "$out" && ls -1 ./*.tgz | wc -l) package(s) in $out"
ls -l "$out"/*"$version".tgz >&2
