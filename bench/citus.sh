#!/usr/bin/env bash
# Benchmark `modkit bootstrap` on a Citus cluster (a coordinator and two workers on this machine)
# against the floor of the same hand-written SQL through psql on the coordinator, in the same run.
#
#   bench/citus.sh [N_TENANTS=1000]
#
# Needs Citus (scripts/citus.sh install). MODKIT_BIN uses that binary instead of a release build.
# Prints a Markdown table for docs/performance.md.
#
# The floor: one psql session sends, per tenant, the transaction modkit sends: BEGIN, schema-based
# sharding on, the tenant row, its schema (distributed), the module's migration, its record, COMMIT.
# psql sends each statement as a query of its own, as modkit must on Citus.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
n=${1:-1000}
work=$(mktemp -d /tmp/modkit-bench-citus.XXXXXX)
chmod 755 "$work"
cleanup() {
  "$repo"/scripts/citus.sh stop "$work/cluster" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

scripts/citus.sh install >/dev/null
if [ -n "${MODKIT_BIN:-}" ]; then
  modkit=$(realpath "$MODKIT_BIN")
else
  cargo build --release --quiet
  modkit=$PWD/target/release/modkit
fi
# Durable like a real server (fsync on): what users get.
CITUS_DURABLE=1 scripts/citus.sh start "$work/cluster" >/dev/null
psql_q() { psql -qAtX -v ON_ERROR_STOP=1 "$@"; }

"$modkit" init bench --dir "$work/sandbox" -q
migration="$work/sandbox/plugin/migrations/0001_create_module_table.sql"
sum=$(sha256sum "$migration" | cut -d' ' -f1)
seq -f "t%06g" 1 "$n" > "$work/tenants.txt"

{
  while read -r code; do
    echo "BEGIN;"
    echo "SET LOCAL citus.enable_schema_based_sharding = on;"
    echo "INSERT INTO public.sys_tenant (code, name, schema_name) VALUES ('$code', '$code', 'tenant_$code');"
    echo "CREATE SCHEMA tenant_$code; SET LOCAL search_path = tenant_$code;"
    cat "$migration"
    echo "INSERT INTO public.sys_module_migration (tenant_id, module, migration, checksum) SELECT id, 'bench', '0001_create_module_table.sql', '$sum' FROM public.sys_tenant WHERE code = '$code';"
    echo "COMMIT;"
  done < "$work/tenants.txt"
} > "$work/floor.sql"

now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.2f}')"; }
ratio() { python3 -c "print(f'{$1 / $2:.3f}')"; }

floor_url=$(scripts/citus.sh db "$work/cluster" floor)
psql_q "$floor_url" -c "SET client_min_messages = warning" -c "CREATE EXTENSION IF NOT EXISTS pgcrypto" -f templates/sql/system.sql
t0=$(now); psql_q "$floor_url" -f "$work/floor.sql" >/dev/null; t1=$(now)
floor=$(secs "$t0" "$t1")

mk_url=$(scripts/citus.sh db "$work/cluster" mk)
cd "$work/sandbox"
t0=$(now); "$modkit" bootstrap -q --db "$mk_url" --tenants-file "$work/tenants.txt"; t1=$(now)
first=$(secs "$t0" "$t1")
t0=$(now); "$modkit" bootstrap -q --db "$mk_url" --tenants-file "$work/tenants.txt"; t1=$(now)
rerun=$(secs "$t0" "$t1")
cd - >/dev/null
distributed=$(psql_q "$mk_url" -c "SELECT count(*) FROM pg_dist_schema")
placement=$(psql_q "$mk_url" -c "SELECT string_agg(n::text, '/' ORDER BY port) FROM (SELECT nodeport AS port, count(*) AS n FROM citus_shards WHERE citus_table_type = 'schema' GROUP BY 1) s")

cat <<MD
Measured $(date -u +%Y-%m-%d) on $(nproc) cores, one run, Citus $(psql_q "$mk_url" -c "SELECT extversion FROM pg_extension WHERE extname = 'citus'") on PostgreSQL $(psql_q "$mk_url" -c "SHOW server_version" | cut -d' ' -f1), a coordinator and 2 workers on this machine, fsync on, \`--jobs\` default ($(basename "$modkit") at $modkit).

| what | seconds | × floor | target |
| --- | ---: | ---: | --- |
| floor: one psql session on the coordinator, one transaction per tenant, $n tenants | $floor | 1.000 | |
| \`modkit bootstrap\`, first run, $n tenants | $first | $(ratio "$first" "$floor") | ≤ 1.0 |
| \`modkit bootstrap\`, re-run, nothing to do | $rerun | $(ratio "$rerun" "$floor") | ≤ 0.05 |

modkit distributed $distributed tenant schemas; tenant tables per worker: $placement.
MD
