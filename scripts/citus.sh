#!/usr/bin/env bash
# A real Citus cluster for tests and benchmarks: find or build Citus 13.2.x for PostgreSQL 15, and
# start a coordinator and two workers on loopback.
#
#   scripts/citus.sh install              find Citus 13.2.x in the system PostgreSQL 15, or build and
#                                         install it from the source tarball (needs root: apt-get,
#                                         make install); prints the citus.so it uses
#   scripts/citus.sh start DIR [PORT]     a coordinator on PORT (default: a free one) and workers on
#                                         the next free ports, trust auth, citus preloaded, the
#                                         workers registered; prints the coordinator's URL
#   scripts/citus.sh db DIR NAME          a new database NAME on every node, CREATE EXTENSION citus,
#                                         the coordinator and workers in its metadata; prints its URL
#   scripts/citus.sh dropdb DIR NAME      drops NAME on every node (WITH (FORCE))
#   scripts/citus.sh stop DIR             stops every node of DIR (workers first)
#   scripts/citus.sh status DIR           pg_ctl status of each node, and pg_dist_node
#
# Environment:
#   CITUS_TARBALL   the Citus source, `git archive v13.2.2 | gzip` of citusdata/citus
#                   (default: ../shared/citus/citus-v13.2.2.tar.gz beside the repository)
#   CITUS_WORKERS   number of workers (2)
#   CITUS_SSL=1     keep Citus's own TLS setup (a self-signed certificate; off by default on loopback)
#   CITUS_DURABLE=1 keep fsync and full_page_writes on (benchmarks)
#   JOBS            make -j (number of CPUs)
#
# Citus has no Debian package: it is built from source (about 80 s on 2 cores, without LLVM bitcode).
# The recipe is the one of ../shared/citus/build.sh and cluster.sh, carried here so that a clone
# needs only the tarball.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
pg=15
bin=/usr/lib/postgresql/$pg/bin
pg_config=$bin/pg_config
[ -x "$pg_config" ] || pg_config=/usr/bin/pg_config
want_series=13.2
version=v13.2.2
nworkers=${CITUS_WORKERS:-2}
say() { echo "citus.sh: $*" >&2; }
usage() { echo "usage: scripts/citus.sh install | start DIR [PORT] | db DIR NAME | dropdb DIR NAME | stop DIR | status DIR" >&2; exit 2; }

# --- install -----------------------------------------------------------------------------------------

installed_citus() {  # prints the installed citus.so when it is a 13.2.x for PostgreSQL 15
  [ -x "$bin/postgres" ] || return 1
  local lib
  lib=$("$bin/pg_config" --pkglibdir 2>/dev/null || echo "/usr/lib/postgresql/$pg/lib")/citus.so
  [ -f "$lib" ] && grep -a -q "Citus $want_series\." "$lib" 2>/dev/null && echo "$lib"
}

install() {
  local lib
  if lib=$(installed_citus); then echo "$lib"; return 0; fi
  [ "$(id -u)" = 0 ] || { say "Citus $want_series.x is not installed for PostgreSQL $pg, and building it needs root (apt-get, make install)"; exit 2; }
  local tarball=${CITUS_TARBALL:-$repo/../shared/citus/citus-$version.tar.gz}
  [ -f "$tarball" ] || { say "no Citus source at $tarball: set CITUS_TARBALL to \`git archive $version | gzip\` of citusdata/citus"; exit 2; }
  local t0; t0=$(date +%s)

  # postgresql-server-dev-15: PGXS and the server headers (Debian ships only the newest, so installing
  #   it upgrades the postgresql-15 server to the same minor; running clusters keep their old binary
  #   until restarted).
  # libcurl4-openssl-dev, liblz4-dev, libzstd-dev: Citus's configure checks for all three.
  # libkrb5-dev: the server header libpq/libpq-be.h includes gssapi/gssapi.h.
  local pkgs="build-essential postgresql-$pg postgresql-server-dev-$pg libcurl4-openssl-dev liblz4-dev libzstd-dev libkrb5-dev" missing="" p
  for p in $pkgs; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    say "installing:$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
  fi
  pg_config=$bin/pg_config

  local work src
  work=$(mktemp -d "${TMPDIR:-/tmp}/modkit-citus-build.XXXXXX")
  src=$work/citus
  mkdir -p "$src"
  tar -xzf "$tarball" -C "$src"
  # Citus 13.2.2 defines a static have_createdb_privilege() for PostgreSQL < 16; PostgreSQL 15.20
  # exports that function from commands/dbcommands.h and the build fails ("static declaration follows
  # non-static declaration"). Rename Citus's copy, only when the server headers declare it.
  local hdr compat
  hdr=$("$pg_config" --includedir-server)/commands/dbcommands.h
  compat=$src/src/include/pg_version_compat.h
  if grep -q 'have_createdb_privilege' "$hdr" && grep -q '^have_createdb_privilege(void)$' "$compat"; then
    sed -i 's/^have_createdb_privilege(void)$/#define have_createdb_privilege citus_have_createdb_privilege\nhave_createdb_privilege(void)/' "$compat"
  fi
  (
    cd "$src"
    ./configure PG_CONFIG="$pg_config" >"$work/configure.log" 2>&1 || { tail -30 "$work/configure.log" >&2; exit 1; }
    # with_llvm=no: no LLVM bitcode (JIT inlining only), which would double the compile.
    make -j"${JOBS:-$(nproc)}" with_llvm=no >"$work/make.log" 2>&1 || { grep -E 'error|Error' "$work/make.log" | tail -20 >&2; exit 1; }
    make with_llvm=no install >"$work/install.log" 2>&1 || { tail -20 "$work/install.log" >&2; exit 1; }
  ) || { say "the Citus build failed; logs in $work"; exit 1; }
  rm -rf "$work"
  lib=$(installed_citus) || { say "built and installed Citus, but no Citus $want_series.x is found in $("$pg_config" --pkglibdir)"; exit 1; }
  say "built and installed Citus in $(($(date +%s) - t0))s"
  echo "$lib"
}

# --- the cluster -------------------------------------------------------------------------------------

as_owner() {
  # From /, which `postgres` can enter: the caller's folder may be private to root.
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}
nodes() { echo coord; for i in $(seq 1 "$nworkers"); do echo "w$i"; done; }
port_of() { cat "$dir/$1/citus_port"; }
sql() {  # sql NODE DB SQL...: each -c its own transaction, stop on the first error
  local node=$1 db=$2; shift 2
  local args=() s; for s in "$@"; do args+=(-c "$s"); done
  as_owner env PGOPTIONS='-c client_min_messages=warning' "$bin/psql" -X -q -At -v ON_ERROR_STOP=1 \
    -h 127.0.0.1 -p "$(port_of "$node")" -U postgres -d "$db" "${args[@]}"
}
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local port
  for _ in $(seq 200); do
    port=$((20000 + RANDOM % 30000))
    port_free "$port" && { echo "$port"; return 0; }
  done
  return 1
}

# Make DB a Citus database on every node, the coordinator and the workers in its metadata. Idempotent.
setup_db() {
  local db=$1 node pids=() pid
  # CREATE EXTENSION citus takes about half a second a node: all nodes at once.
  for node in $(nodes); do sql "$node" "$db" "CREATE EXTENSION IF NOT EXISTS citus" >/dev/null & pids+=($!); done
  for pid in "${pids[@]}"; do wait "$pid"; done
  sql coord "$db" "SELECT citus_set_coordinator_host('127.0.0.1', $(port_of coord))" >/dev/null
  for node in $(nodes | tail -n +2); do
    local p; p=$(port_of "$node")
    if [ "$(sql coord "$db" "SELECT count(*) FROM pg_dist_node WHERE nodename = '127.0.0.1' AND nodeport = $p")" = 0 ]; then
      sql coord "$db" "SELECT citus_add_node('127.0.0.1', $p)" >/dev/null
    fi
  done
}

start() {
  installed_citus >/dev/null || { say "Citus $want_series.x is not installed: run scripts/citus.sh install"; exit 2; }
  local port=${1:-} node d
  mkdir -p "$dir"; [ "$(id -u)" = 0 ] && chown postgres "$dir"
  for node in $(nodes); do
    d=$dir/$node
    if [ ! -f "$d/PG_VERSION" ]; then
      if [ -z "$port" ] || ! port_free "$port"; then port=$(free_port); fi
      as_owner "$bin/initdb" -D "$d" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >"$dir/$node.initdb.log" 2>&1 \
        || { cat "$dir/$node.initdb.log" >&2; exit 2; }
      {
        echo "# scripts/citus.sh"
        echo "port = $port"
        echo "listen_addresses = '127.0.0.1'"
        echo "unix_socket_directories = '$dir'"
        echo "shared_preload_libraries = 'citus'"
        echo "max_connections = 300"
        echo "max_prepared_transactions = 300"       # Citus commits multi-node writes with 2PC
        echo "max_locks_per_transaction = 256"
        echo "max_worker_processes = 128"            # one Citus maintenance daemon per database per node
        # Citus's CREATE EXTENSION turns ssl on with a self-signed X.509 v1 certificate when
        # node_conninfo says sslmode=require (its default). On loopback: no TLS, unless CITUS_SSL=1.
        [ "${CITUS_SSL:-0}" = 1 ] || echo "citus.node_conninfo = 'sslmode=prefer'"
        echo "wal_level = logical"                   # shard moves and citus_schema_move use logical replication
        echo "citus.enable_statistics_collection = off"
        echo "log_line_prefix = '%m [%p] %q%u@%d '"
        if [ "${CITUS_DURABLE:-0}" != 1 ]; then echo "fsync = off"; echo "full_page_writes = off"; fi
      } | as_owner tee -a "$d/postgresql.conf" >/dev/null
      echo "$port" | as_owner tee "$d/citus_port" >/dev/null
      port=$((port + 1))
    fi
    if ! as_owner "$bin/pg_ctl" -D "$d" status >/dev/null 2>&1; then
      as_owner "$bin/pg_ctl" -D "$d" -l "$dir/$node.log" -w -t 60 start >/dev/null \
        || { tail -20 "$dir/$node.log" >&2; exit 2; }
    fi
  done
  setup_db postgres
  echo "postgres://postgres@127.0.0.1:$(port_of coord)/postgres"
}

cmd=${1:-}
case "$cmd" in
install) install ;;
start|db|dropdb|stop|status)
  dir=${2:-}; [ -n "$dir" ] || usage
  case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac
  case "$cmd" in
  start) start "${3:-}" ;;
  db|dropdb)
    name=${3:-}; [ -n "$name" ] || usage
    [[ "$name" =~ ^[a-z_][a-z0-9_]*$ ]] || { say "database name must match [a-z_][a-z0-9_]*"; exit 2; }
    if [ "$cmd" = db ]; then
      pids=()
      for node in $(nodes); do
        if [ "$(sql "$node" postgres "SELECT count(*) FROM pg_database WHERE datname = '$name'")" = 0 ]; then
          sql "$node" postgres "CREATE DATABASE $name" >/dev/null & pids+=($!)
        fi
      done
      for pid in "${pids[@]}"; do wait "$pid"; done
      setup_db "$name"
      echo "postgres://postgres@127.0.0.1:$(port_of coord)/$name"
    else
      # Citus does not propagate DROP DATABASE; FORCE ends the maintenance daemons' connections.
      for node in $(nodes | tac); do sql "$node" postgres "DROP DATABASE IF EXISTS $name WITH (FORCE)" >/dev/null; done
    fi
    ;;
  stop)
    for node in $(nodes | tac); do
      d=$dir/$node
      [ -f "$d/postmaster.pid" ] && as_owner "$bin/pg_ctl" -D "$d" -m fast -w -t 60 stop >/dev/null || true
    done
    ;;
  status)
    for node in $(nodes); do printf '%-6s ' "$node"; as_owner "$bin/pg_ctl" -D "$dir/$node" status | head -1 || true; done
    sql coord postgres "SELECT nodeid, nodename, nodeport, groupid, noderole, isactive FROM pg_dist_node ORDER BY nodeid" || true
    ;;
  esac
  ;;
*) usage ;;
esac
