#!/usr/bin/env bash
# Benchmark `modkit bootstrap` against the floor a hand-written script reaches, in the same run,
# on the same throwaway PostgreSQL (default durability settings).
#
#   bench/bootstrap.sh [N_TENANTS=1000] [RSS_TENANTS=10000]      (BENCH_REPEAT=3 runs of each)
#   BENCH_BASELINE=/path/to/other/modkit bench/bootstrap.sh ...   (that binary's first run too, interleaved)
#
# Prints a Markdown table for docs/performance.md. The floor is one psql session running the
# equivalent SQL (tenant row, schema, module table, migration record) in one transaction, and the
# same split over two psql sessions in parallel.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
n=${1:-1000}
rss_n=${2:-10000}
repeat=${BENCH_REPEAT:-3}
work=$(mktemp -d /tmp/modkit-bench.XXXXXX)
chmod 755 "$work" # the cluster runs as `postgres` when we are root
port=${BENCH_PG_PORT:-55499}
pg_dir=$work/pg
cleanup() {
  "$repo"/scripts/pg.sh stop "$pg_dir" >/dev/null 2>&1 || true
  mountpoint -q "$work/fs" 2>/dev/null && umount "$work/fs"
  rm -rf "$work" "$work.img"
}
trap cleanup EXIT

# The cluster lives on a fresh ext4 with a journal, loop-mounted, when we may mount one (root):
# what a database server's disk usually is, and the same for every run. This machine's own
# file system has no journal, and there ext4 skips, for minutes, the inodes freed by a deletion at
# every file it creates: a run that follows the deletion of a previous run's thousands of files
# (its cluster, its dropped databases) measured the floor at 4.1 s instead of 2.6 s.
# BENCH_LOOPFS=0 keeps the cluster in /tmp.
fs_used="the file system of /tmp ($(findmnt -no FSTYPE -T "$work" 2>/dev/null || echo unknown))"
if [ "${BENCH_LOOPFS:-1}" = 1 ] && [ "$(id -u)" = 0 ] && command -v mkfs.ext4 >/dev/null \
  && truncate -s 16G "$work.img" && mkfs.ext4 -q -F "$work.img" && mkdir "$work/fs" \
  && mount -o loop "$work.img" "$work/fs" 2>/dev/null; then
  chmod 755 "$work/fs"
  pg_dir=$work/fs/pg
  fs_used="a fresh ext4 with a journal, loop-mounted"
fi

cargo build --release --quiet
modkit=$PWD/target/release/modkit
MODKIT_PG_DURABLE=1 scripts/pg.sh start "$pg_dir" "$port" >/dev/null
base="postgres://postgres@127.0.0.1:$port"
psql_q() { psql -qAtX -v ON_ERROR_STOP=1 "$@"; }

# The sandbox modkit writes, so the module table is the real one.
"$modkit" init bench --dir "$work/sandbox" -q
migration="$work/sandbox/plugin/migrations/0001_create_module_table.sql"
sum=$(sha256sum "$migration" | cut -d' ' -f1)
seq -f "t%06g" 1 "$n" > "$work/tenants.txt"

fresh_db() { psql_q "$base/postgres" -c "SET client_min_messages = warning" -c "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1"; }

# The floor: the same work, hand-written, one transaction per session.
floor_sql() { # $1 = tenant list file
  echo "BEGIN;"
  while read -r code; do
    echo "INSERT INTO public.sys_tenant (code, name, schema_name) VALUES ('$code', '$code', 'tenant_$code');"
    echo "CREATE SCHEMA tenant_$code; SET LOCAL search_path = tenant_$code, public;"
    cat "$migration"
    echo "INSERT INTO public.sys_module_migration (tenant_id, module, migration, checksum) SELECT id, 'bench', '0001_create_module_table.sql', '$sum' FROM public.sys_tenant WHERE code = '$code';"
  done < "$1"
  echo "COMMIT;"
}
prepare_floor_db() {
  fresh_db "$1"
  psql_q "$base/$1" -c "CREATE EXTENSION IF NOT EXISTS pgcrypto" -f "$repo/templates/sql/system.sql"
}
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }

floor_sql "$work/tenants.txt" > "$work/floor.sql"
split -n l/2 "$work/tenants.txt" "$work/half."
floor_sql "$work/half.aa" > "$work/floor_a.sql"
floor_sql "$work/half.ab" > "$work/floor_b.sql"

# Each measurement is repeated and interleaved with the others, so that the noise of a shared
# machine hits all of them alike; the table gives the medians.
# CPU seconds the PostgreSQL server spent: its live processes, plus the ended backends the
# postmaster has reaped. Less noisy than wall time: it shows the server work modkit adds.
server_cpu() {
  sleep 0.3 # let the postmaster reap the backends of a client that just ended
  python3 - "$pg_dir/postmaster.pid" <<'PY'
import os, sys
pm = int(open(sys.argv[1]).readline())
ticks = lambda pid, a, b: sum(int(x) for x in open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[a:b])
total = ticks(pm, 11, 15)  # utime, stime, cutime, cstime
for p in filter(str.isdigit, os.listdir("/proc")):
    try:
        fields = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
        if int(p) != pm and int(fields[1]) == pm:
            total += int(fields[11]) + int(fields[12])
    except OSError:
        pass
print(total / os.sysconf("SC_CLK_TCK"))
PY
}
median() { python3 -c "import statistics,sys; print(f'{statistics.median(map(float, sys.argv[1:])):.2f}')" "$@"; }
# Every measurement gets a database of its own, and none is dropped until the end: dropping one
# deletes thousands of files, and on a file system without a journal (this machine's) ext4 then
# skips the inodes it freed in the last minutes at every file it creates, so whatever runs next
# creates its tables more slowly (the floor measured 2.4, 3.3, then 4.6 s in a drop-and-recreate loop).
f1=(); f2=(); m1=(); m2=(); c1=(); cm=(); r1=(); b1=(); cb=(); rb=()
baseline=${BENCH_BASELINE:-}
cd "$work/sandbox"
for r in $(seq "$repeat"); do
  prepare_floor_db "floor1_$r"
  c0=$(server_cpu); t0=$(now); psql_q "$base/floor1_$r" -f "$work/floor.sql" >/dev/null; t1=$(now)
  f1+=("$(secs "$t0" "$t1")"); c1+=("$(secs "$c0" "$(server_cpu)")")

  prepare_floor_db "floor2_$r"
  t0=$(now)
  psql_q "$base/floor2_$r" -f "$work/floor_a.sql" >/dev/null & a=$!
  psql_q "$base/floor2_$r" -f "$work/floor_b.sql" >/dev/null & b=$!
  wait $a; wait $b
  t1=$(now)
  f2+=("$(secs "$t0" "$t1")")

  fresh_db "mk_$r"
  c0=$(server_cpu); t0=$(now); "$modkit" bootstrap -q --db "$base/mk_$r" --tenants-file "$work/tenants.txt"; t1=$(now)
  m1+=("$(secs "$t0" "$t1")"); cm+=("$(secs "$c0" "$(server_cpu)")")
  r1+=("$(python3 -c "print(f'{${m1[-1]} / ${f1[-1]}:.2f}')")")
  t0=$(now); "$modkit" bootstrap -q --db "$base/mk_$r" --tenants-file "$work/tenants.txt"; t1=$(now)
  m2+=("$(secs "$t0" "$t1")")

  if [ -n "$baseline" ]; then
    fresh_db "base_$r"
    c0=$(server_cpu); t0=$(now); "$baseline" bootstrap -q --db "$base/base_$r" --tenants-file "$work/tenants.txt"; t1=$(now)
    b1+=("$(secs "$t0" "$t1")"); cb+=("$(secs "$c0" "$(server_cpu)")")
    rb+=("$(python3 -c "print(f'{${b1[-1]} / ${f1[-1]}:.2f}')")")
  fi
done
floor1=$(median "${f1[@]}"); floor2=$(median "${f2[@]}"); first=$(median "${m1[@]}"); rerun=$(median "${m2[@]}")
tenants=$(psql_q "$base/mk_1" -c "SELECT count(*) FROM sys_tenant")
tables=$(psql_q "$base/mk_1" -c "SELECT count(*) FROM pg_tables WHERE tablename = 'bench'")

# Memory: peak RSS at rss_n tenants, first run and re-run.
seq -f "r%06g" 1 "$rss_n" > "$work/rss.txt"
fresh_db mkrss
/usr/bin/time -f "%M" -o "$work/rss1" "$modkit" bootstrap -q --db "$base/mkrss" --tenants-file "$work/rss.txt"
/usr/bin/time -f "%M" -o "$work/rss2" "$modkit" bootstrap -q --db "$base/mkrss" --tenants-file "$work/rss.txt"
cd - >/dev/null

ratio() { python3 -c "print(f'{$1 / $2:.3f}')"; }
cat <<MD
Measured $(date -u +%Y-%m-%d) on $(nproc) cores, median of $repeat interleaved runs, PostgreSQL $(psql_q "$base/postgres" -c "SHOW server_version" | cut -d' ' -f1), default durability, \`--jobs\` default, the cluster on $fs_used.

| what | seconds | × single-session floor | target |
| --- | ---: | ---: | --- |
| floor: one psql session, one transaction, $n tenants | $floor1 | 1.000 | |
| floor: two psql sessions in parallel | $floor2 | $(ratio "$floor2" "$floor1") | |
| \`modkit bootstrap\`, first run, $n tenants | $first | $(ratio "$first" "$floor1") | ≤ 0.6 |
| \`modkit bootstrap\`, re-run, nothing to do | $rerun | $(ratio "$rerun" "$floor1") | ≤ 0.05 |

First run ÷ two-session floor: $(ratio "$first" "$floor2") (the machine's noise moves both alike).
First run ÷ floor, each repetition: ${r1[*]}.
Server CPU, first run ÷ floor (medians): $(median "${cm[@]}") s ÷ $(median "${c1[@]}") s = $(ratio "$(median "${cm[@]}")" "$(median "${c1[@]}")") (the server work modkit adds: its transactions, locks and checks).
Check: $tenants tenants, $tables module tables after the first run.
MD
if [ -n "$baseline" ]; then
  cat <<MD
Baseline \`$baseline\`, first run, same repetitions: $(median "${b1[@]}") s = $(ratio "$(median "${b1[@]}")" "$floor1")× the floor (each repetition: ${rb[*]}); server CPU $(median "${cb[@]}") s = $(ratio "$(median "${cb[@]}")" "$(median "${c1[@]}")")× the floor's.
Server CPU per new tenant over the floor's: this build $(python3 -c "print(f'{($(median "${cm[@]}") - $(median "${c1[@]}")) / $n * 1000:.2f}')") ms, baseline $(python3 -c "print(f'{($(median "${cb[@]}") - $(median "${c1[@]}")) / $n * 1000:.2f}')") ms.
MD
fi
cat <<MD
Peak RSS at $rss_n tenants: first run $(( $(cat "$work/rss1") / 1024 )) MB, re-run $(( $(cat "$work/rss2") / 1024 )) MB (target < 50 MB).
MD
