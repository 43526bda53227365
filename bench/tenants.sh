#!/usr/bin/env bash
# Benchmark the tenant operations on a PostgreSQL server you name:
#   - `modkit tenant list` on N tenants (three queries whatever N; each tenant with the module's table);
#   - `modkit tenant clone a --to c --data` of a tenant holding ROWS rows, against `pg_dump -n tenant_a
#     | sed | psql` of the same schema into another name, side by side in the same run.
#
#   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres bench/tenants.sh [N=1000] [ROWS=100000]
#
# MODKIT_BIN uses that binary instead of a release build. A database modkit_bench_tenants is made
# (and dropped at the end) on that server. Prints a Markdown table for docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000}
rows=${2:-100000}
admin=${BENCH_DATABASE_URL:?set BENCH_DATABASE_URL to a server where this role may CREATE DATABASE}
db_name=modkit_bench_tenants
url=${admin%/*}/$db_name
work=$(mktemp -d /tmp/modkit-bench-tenants.XXXXXX)
psql_q() { psql -qAtX -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
  psql_q "$admin" -c "DROP DATABASE IF EXISTS $db_name" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${MODKIT_BIN:-}" ]; then
  modkit=$(realpath "$MODKIT_BIN")
else
  cargo build --release --quiet
  modkit=$PWD/target/release/modkit
fi
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
pg_dump=${pg_bin:+$pg_bin/}pg_dump

psql_q "$admin" -c "DROP DATABASE IF EXISTS $db_name" -c "CREATE DATABASE $db_name" >/dev/null
"$modkit" init bench --dir "$work/sandbox" -q
seq -f "t%06g" 1 "$n" > "$work/tenants.txt"
echo a >> "$work/tenants.txt"
"$modkit" bootstrap --project "$work/sandbox" --db "$url" --tenants-file "$work/tenants.txt" -q --format json >/dev/null
psql_q "$url" -c "INSERT INTO tenant_a.bench (name) SELECT 'row ' || g FROM generate_series(1, $rows) g" -c "VACUUM ANALYZE tenant_a.bench"

now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# tenant list: 5 runs, the median; the number of statements the server saw, from pg_stat_statements when there.
list_times=()
for _ in 1 2 3 4 5; do
  t0=$(now); "$modkit" tenant list --db "$url" --project "$work/sandbox" --format json > "$work/list.json"; t1=$(now)
  list_times+=("$(echo "$t1 - $t0" | bc)")
done
listed=$(grep -c '"code"' "$work/list.json")
list_median=$(printf '%s\n' "${list_times[@]}" | median)

# clone vs pg_dump | psql: 3 runs each, alternating, into fresh names.
clone_times=(); dump_times=()
for i in 1 2 3; do
  t0=$(now); "$modkit" tenant clone a --to "c$i" --data --db "$url" --project "$work/sandbox" -q; t1=$(now)
  clone_times+=("$(echo "$t1 - $t0" | bc)")
  t0=$(now)
  "$pg_dump" --dbname "$url" --schema tenant_a | grep -v '^\\\(un\)\?restrict' | sed "s/tenant_a\b/tenant_d$i/g" | psql_q "$url" >/dev/null
  t1=$(now)
  dump_times+=("$(echo "$t1 - $t0" | bc)")
done
copied=$(psql_q "$url" -c "SELECT count(*) FROM tenant_c1.bench")
clone_median=$(printf '%s\n' "${clone_times[@]}" | median)
dump_median=$(printf '%s\n' "${dump_times[@]}" | median)

echo "| what | modkit | baseline | ratio |"
echo "| --- | --- | --- | --- |"
printf '| `tenant list`, %s tenants (median of 5) | %.3f s | - | - |\n' "$listed" "$list_median"
printf '| `tenant clone --data`, %s rows (median of 3) | %.3f s | %.3f s (`pg_dump -n \| sed \| psql`) | %.2fx |\n' \
  "$copied" "$clone_median" "$dump_median" "$(echo "$clone_median / $dump_median" | bc -l)"
