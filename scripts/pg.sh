#!/usr/bin/env bash
# Start (or stop) a throwaway PostgreSQL cluster for tests and benchmarks, and print its URL.
#
#   scripts/pg.sh start DIR [PORT]   -> prints postgres://postgres@127.0.0.1:PORT/postgres
#   scripts/pg.sh stop DIR
#
# initdb refuses to run as root, so as root the cluster belongs to the `postgres` user.
set -euo pipefail

cmd=${1:?usage: scripts/pg.sh start|stop DIR [PORT]}
dir=${2:?usage: scripts/pg.sh start|stop DIR [PORT]}
port=${3:-55432}
# pg_ctl resolves the socket and log paths against the data folder: make it absolute.
case "$dir" in /*) ;; *) dir="$PWD/$dir" ;; esac

bindir=$(pg_config --bindir 2>/dev/null || true)
[ -x "$bindir/initdb" ] || bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$bindir/initdb" ] || { echo "pg.sh: no PostgreSQL server found (apt-get install postgresql)" >&2; exit 2; }

as_owner() {
  # From /, which `postgres` can enter: the caller's folder may be private to root.
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

case "$cmd" in
start)
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  if [ ! -f "$dir/PG_VERSION" ]; then
    as_owner "$bindir/initdb" -D "$dir" -U postgres -A trust --no-sync -E UTF8 --locale=C.UTF-8 >"$dir.initdb.log" 2>&1 \
      || { cat "$dir.initdb.log" >&2; exit 2; }
  fi
  # A throwaway cluster with enough connections for the concurrency tests. Durability is off for
  # tests; MODKIT_PG_DURABLE=1 keeps PostgreSQL's defaults (benchmarks measure what users get).
  opts="-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=300 -c max_locks_per_transaction=256"
  [ "${MODKIT_PG_DURABLE:-0}" = 1 ] || opts="$opts -c fsync=off -c full_page_writes=off"
  as_owner "$bindir/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 -o "$opts" start >/dev/null
  echo "postgres://postgres@127.0.0.1:$port/postgres"
  ;;
stop)
  [ -f "$dir/postmaster.pid" ] && as_owner "$bindir/pg_ctl" -D "$dir" -m immediate stop >/dev/null || true
  ;;
*) echo "usage: scripts/pg.sh start|stop DIR [PORT]" >&2; exit 2 ;;
esac
