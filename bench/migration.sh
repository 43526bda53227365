#!/usr/bin/env bash
# The dev loop's migration step: from saving a new migration file in plugin/migrations/ to the API
# serving the new column, while `npm run dev` runs on the sandbox's own local database (embedded
# PostgreSQL 18; as root, npm and the server run as `nobody`). Each run first adds a route reading a
# column no migration made yet (the API restarts; it answers 500 with the hint), then saves the
# migration and times:
#   served      save -> the first 200 of that route (the old API serves it once the migration commits)
#   bootstrap   the bootstrap's own time, as npm run dev prints it ("[db] applied ... in N ms")
#   restarted   save -> the first answer of the restarted API (its pid in /api/sandbox/health changed)
#
#   bench/migration.sh [RUNS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
command -v curl >/dev/null || { echo "bench/migration.sh: needs curl" >&2; exit 2; }
cargo build --quiet
modkit=$PWD/target/debug/modkit
work=$(mktemp -d /tmp/modkit-bench-migration.XXXXXX)
chmod 755 "$work"
dev=0
trap '[ "$dev" != 0 ] && kill -INT -- -$dev 2>/dev/null; sleep 2; rm -rf "$work"' EXIT

cd "$work"
"$modkit" init items -q
cd items
npm install --no-audit --no-fund --loglevel=error >/dev/null
as_user=()
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$work/home" && chown -R nobody: "$work"
  as_user=(setpriv --reuid=nobody --regid=nogroup --clear-groups env HOME="$work/home" npm_config_cache="$work/home/.npm")
fi
now() { date +%s.%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

vite=$((20000 + RANDOM % 20000)); api=$((40000 + RANDOM % 20000))
setsid "${as_user[@]}" env PORT=$api VITE_PORT=$vite npm run dev >"$work/dev.log" 2>&1 &
dev=$!
base="http://localhost:$vite/api/plugins/items"
H=(-H 'X-Tenant-Id: dev' -H 'X-User-Id: dev')
until curl -fs -o /dev/null "${H[@]}" "$base/items"; do
  kill -0 $dev 2>/dev/null || { cat "$work/dev.log" >&2; exit 1; }
  sleep 0.05
done
pid_of() { curl -fs "http://localhost:$vite/api/sandbox/health" | sed -n 's/.*"pid":\([0-9]*\).*/\1/p'; }
status() { curl -s -o /dev/null -w '%{http_code}' "${H[@]}" "$base/$1"; }

served=(); boot=(); restarted=()
for i in $(seq "$runs"); do
  # The route first, over a column that does not exist yet.
  sed -i "s|    r.get('/health',|    r.get('/col$i', ctx.rbac.require('items.read'), async (req, res) => {\n      res.json({ data: await ctx.withTenantTx(tenantOf(req), async (db) => (await db.query('SELECT c$i FROM items')).rows) });\n    });\n\n    r.get('/health',|" plugin/index.ts
  until [ "$(status "col$i")" = 500 ]; do sleep 0.05; done
  before=$(pid_of)
  n=$(printf '%04d' $((i + 1)))
  t0=$(now)
  printf -- "-- c$i\nALTER TABLE items ADD COLUMN c$i text NOT NULL DEFAULT 'x';\n" > "plugin/migrations/${n}_c$i.sql"
  until [ "$(status "col$i")" = 200 ]; do sleep 0.01; done
  t1=$(now)
  while p=$(pid_of); [ -z "$p" ] || [ "$p" = "$before" ]; do sleep 0.01; done
  t2=$(now)
  served+=("$(echo "$t1 - $t0" | bc)")
  restarted+=("$(echo "$t2 - $t0" | bc)")
  boot+=("$(grep -o "applied items/${n}_c$i.sql to [0-9]* tenants\? in [0-9]* ms" "$work/dev.log" | awk '{print $(NF-1)/1000}')")
done
row() { printf '| %s | %.2f | %s |\n' "$1" "$(printf '%s\n' "${@:2}" | median)" "$(printf '%.2f ' "${@:2}")"; }
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$runs runs, seconds"
echo "| step | median | runs |"
echo "| --- | --- | --- |"
row "save a migration -> the new column served (200)" "${served[@]}"
row "  of which the bootstrap (applied to the dev tenant, as printed)" "${boot[@]}"
row "save a migration -> the restarted API answers" "${restarted[@]}"
