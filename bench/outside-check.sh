#!/usr/bin/env bash
# What the "nothing outside the tenant" check costs a new tenant, in server time, measured in the
# same transactions (issue 15): the relations-only check of commit 0528711, the full check of
# da45e73 (created_outside_schema, nine catalogs, planned anew after every CREATE SCHEMA), and the
# new tenant's check of today (refuse_outside_new_schema + refuse_rare_outside_new_schema), alone and
# once for a batch of 16 new tenants made in savepoints (what a first run does since then).
#
#   bench/outside-check.sh URL [N=150]
#
# URL: a database `modkit bootstrap` has made (the more tenants, the more catalog rows). Each of N
# transactions makes a tenant as a first run does (row, schema, the sandbox's module table, record),
# then runs each check in turn, each timed by the server (clock_timestamp() around it, the whole
# transaction sent as one query: no client round trip counted), and rolls back. Prints medians and
# 10th percentiles (the latter less moved by a loaded machine). Nothing is kept.
set -euo pipefail
cd "$(dirname "$0")/.."
url=$1
n=${2:-150}
work=$(mktemp -d /tmp/modkit-outside.XXXXXX)
trap 'rm -rf "$work"' EXIT
git show 0528711:templates/sql/statements.sql > "$work/relations.sql"
git show da45e73:templates/sql/statements.sql > "$work/full.sql"
python3 - "$n" "$work" <<'PY'
import sys
n, work = int(sys.argv[1]), sys.argv[2]
def get(src, name):
    a = src.index('-- name: ' + name + '\n'); b = src.find('\n-- name:', a + 5)
    return '\n'.join(l for l in src[a:b].split('\n') if not l.strip().startswith('--')).strip().rstrip(';')
def statements(text):
    # Split on `;` outside the $modkit$ block (nothing else here holds one), for psql's `\;`.
    out, cur, inside, i = [], '', False, 0
    while i < len(text):
        if text.startswith('$modkit$', i):
            inside, cur, i = not inside, cur + '$modkit$', i + 8
            continue
        if text[i] == ';' and not inside:
            out.append(cur); cur = ''
        else:
            cur += text[i]
        i += 1
    return [s.strip() for s in out + [cur] if s.strip()]
new, full, rel = (open(f).read() for f in ('templates/sql/statements.sql', work + '/full.sql', work + '/relations.sql'))
mig = open('templates/sandbox/plugin/migrations/0001_create_module_table.sql').read() \
    .replace('{{ module_id }}', 'bench').replace('{{ table }}', 'bench')
mig = '\n'.join(l for l in mig.split('\n') if not l.startswith('--'))
def fill(sql, schemas, records):
    # $1 the first schema, $2 the records, $3 every schema (an array of quoted identifiers), $4 how many.
    arr = '{' + ','.join('"\\"' + x + '\\""' for x in schemas) + '}'
    return sql.replace('$1', f"'\"{schemas[0]}\"'").replace('$2', f"'{records}'").replace('$3', f"'{arr}'") \
        .replace('$4', f"'{len(schemas)}'")
t0 = "SELECT pg_catalog.set_config('bench.t0', pg_catalog.clock_timestamp()::text, true) IS NULL"
lap = lambda label: f"SELECT '{label}', extract(epoch FROM pg_catalog.clock_timestamp() - pg_catalog.current_setting('bench.t0')::timestamptz) * 1000"
out = [get(new, 'remember_outside_objects') + ';']
for i in range(n):
    code, schema = f'zz_bench{i}', f'tenant_zz_bench{i}'
    quoted = f"'\"{schema}\"'"
    full_check = get(full, 'created_outside_schema').replace('$1', f"'{schema}'").replace('$2', 'true') \
        .replace('$3', f"'{code}'").replace('$4', '1')
    script = f"""BEGIN;
{t0}; {get(full, 'stats_baseline')}; {lap('baseline_before')};
{t0}; {get(new, 'stats_baseline')}; {lap('baseline')};
INSERT INTO public.sys_tenant (code, name, schema_name) VALUES ('{code}', '{code}', '{schema}');
CREATE SCHEMA {schema}; SET LOCAL search_path TO {schema}, extensions;
{mig};
INSERT INTO public.sys_module_migration SELECT id, 'bench', 'x', 'y' FROM public.sys_tenant WHERE code = '{code}';
{t0}; {get(rel, 'refuse_outside_new_schema').replace('$1', repr('"' + schema + '"'))}; {lap('relations')};
{t0}; SELECT 1 / (({full_check}) IS NULL)::int; {lap('full')};
{t0}; {fill(get(new, 'refuse_outside_new_schema'), [schema], 1)}; {lap('new')};
{t0}; {fill(get(new, 'refuse_rare_outside_new_schema'), [schema], 1)}; {lap('rare')};
ROLLBACK"""
    out.append(' \\; '.join(statements(script)) + ';')
# Batches of 16 new tenants, each in a savepoint, as a first run makes them: one check for all.
for b in range(max(1, n // 16)):
    schemas = [f'tenant_zz_batch{b}_{k}' for k in range(16)]
    parts = ['BEGIN', get(new, 'stats_baseline')]
    for schema in schemas:
        code = schema.removeprefix('tenant_')
        parts += ['SAVEPOINT modkit_tenant',
                  f"INSERT INTO public.sys_tenant (code, name, schema_name) VALUES ('{code}', '{code}', '{schema}')",
                  f'CREATE SCHEMA {schema}', f'SET LOCAL search_path TO {schema}, extensions', mig,
                  f"INSERT INTO public.sys_module_migration SELECT id, 'bench', 'x', 'y' FROM public.sys_tenant WHERE code = '{code}'",
                  'RELEASE SAVEPOINT modkit_tenant']
    parts += [t0, fill(get(new, 'refuse_outside_new_schema'), schemas, 16), fill(get(new, 'refuse_rare_outside_new_schema'), schemas, 16), lap('batch16'), 'ROLLBACK']
    out.append(' \\; '.join(statements(';\n'.join(parts))) + ';')
open(work + '/run.sql', 'w').write('\n'.join(out) + '\n')
PY
psql -qAtX -v ON_ERROR_STOP=1 "$url" -f "$work/run.sql" > "$work/times"
python3 - "$work/times" <<'PY'
import collections, statistics, sys
laps = collections.defaultdict(list)
for line in open(sys.argv[1]):
    label, _, ms = line.strip().partition('|')
    if ms:
        laps[label].append(float(ms))
med = {k: statistics.median(v) for k, v in laps.items()}
p10 = {k: sorted(v)[len(v) // 10] for k, v in laps.items()}
for k in ('baseline_before', 'baseline', 'relations', 'full', 'new', 'rare'):
    print(f'{k:16} median {med[k]:7.3f} ms   p10 {p10[k]:7.3f} ms')
for name, m in (('median', med), ('p10', p10)):
    print(f"{name}: per new tenant, the full check (with its baseline) {m['baseline_before'] + m['full']:.3f} ms, "
          f"today's {m['baseline'] + m['new'] + m['rare']:.3f} ms, the relations-only check {m['relations']:.3f} ms; "
          f"extra over relations-only: before {m['baseline_before'] + m['full'] - m['relations']:.3f} ms, "
          f"now {m['baseline'] + m['new'] + m['rare'] - m['relations']:.3f} ms")
if laps.get('batch16'):
    print(f"batch of 16 (one check, both statements): median {med['batch16']:.3f} ms, p10 {p10['batch16']:.3f} ms; "
          f"per new tenant {med['batch16'] / 16:.3f} ms (p10 {p10['batch16'] / 16:.3f}), the baseline once a batch "
          f"{med['baseline'] / 16:.3f} ms a tenant; today's single-tenant check {med['baseline'] + med['new'] + med['rare']:.3f} ms")
print(f'{len(laps["new"])} new tenants; each figure includes ~0.1 ms of the timing statements themselves')
PY
