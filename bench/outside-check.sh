#!/usr/bin/env bash
# What the "nothing outside the tenant" check costs a new tenant, in server time, against the
# relations-only check it replaced (issue 15), measured in the same transactions.
#
#   bench/outside-check.sh URL [N=150]
#
# URL: a database `modkit bootstrap` has made (the more tenants, the more catalog rows). Each of N
# transactions makes a tenant as a first run does (row, schema, the sandbox's module table, record),
# then runs stats_baseline, the old check (refuse_outside_new_schema of commit 0528711) and the new
# one, each under EXPLAIN (ANALYZE, SUMMARY, TIMING OFF), and rolls back. Prints the medians of
# planning + execution time. Nothing is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
url=$1
n=${2:-150}
work=$(mktemp -d /tmp/modkit-outside.XXXXXX)
trap 'rm -rf "$work"' EXIT
git show 0528711:templates/sql/statements.sql > "$work/old.sql"
python3 - "$n" "$work" <<'PY'
import sys
n, work = int(sys.argv[1]), sys.argv[2]
def get(src, name):
    a = src.index('-- name: ' + name + '\n'); b = src.find('\n-- name:', a + 5)
    return '\n'.join(l for l in src[a:b].split('\n') if not l.strip().startswith('--')).strip().rstrip(';')
new, old = open('templates/sql/statements.sql').read(), open(work + '/old.sql').read()
mig = open('templates/sandbox/plugin/migrations/0001_create_module_table.sql').read().replace('{{ module_id }}', 'bench')
ex = 'EXPLAIN (ANALYZE, SUMMARY, TIMING OFF, COSTS OFF) '
out = [get(new, 'remember_outside_objects') + ';']
for i in range(n):
    code, schema = f'zz_bench{i}', f'tenant_zz_bench{i}'
    check = get(new, 'created_outside_schema').replace('$1', f"'{schema}'").replace('$2', 'true') \
        .replace('$3', f"'{code}'").replace('$4', '1')
    out.append(f"""BEGIN;
{ex}{get(new, 'stats_baseline')};
INSERT INTO public.sys_tenant (code, name, schema_name) VALUES ('{code}', '{code}', '{schema}');
CREATE SCHEMA {schema}; SET LOCAL search_path TO {schema}, extensions;
{mig}
;INSERT INTO public.sys_module_migration SELECT id, 'bench', 'x', 'y' FROM public.sys_tenant WHERE code = '{code}';
{ex}{get(old, 'refuse_outside_new_schema').replace('$1', repr('"' + schema + '"'))};
{ex}{get(new, 'refuse_outside_new_schema').replace(':created_outside_schema', check)};
ROLLBACK;""")
open(work + '/run.sql', 'w').write('\n'.join(out) + '\n')
PY
psql -qAtX -v ON_ERROR_STOP=1 "$url" -f "$work/run.sql" | grep -E '^(Planning|Execution) Time' > "$work/times"
python3 - "$work/times" <<'PY'
import re, statistics, sys
v = [float(re.search(r'([0-9.]+) ms', l).group(1)) for l in open(sys.argv[1])]
n = len(v) // 6
med = lambda k: statistics.median(v[6 * i + k] + v[6 * i + k + 1] for i in range(n))
base, old, new = med(0), med(2), med(4)
print(f'{n} new tenants: stats_baseline {base:.3f} ms, old check {old:.3f} ms, new check {new:.3f} ms '
      f'(planning {statistics.median(v[6*i+4] for i in range(n)):.3f} ms); '
      f'extra server time per new tenant: {base + new - old:.3f} ms (medians, planning + execution)')
PY
