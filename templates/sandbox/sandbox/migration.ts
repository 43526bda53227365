// npm run migration:new -- <name>: the next migration of the module in plugin/migrations/, with a
// header; the same rules as `modkit migration new` (modkit's src/migration.rs). npm run dev applies it
// as soon as it is saved.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { isEntryPoint, loadConfig, projectRoot } from './config.js';

/** `Add Description!` -> `add_description`; undefined when nothing is left. */
export function slug(name: string): string | undefined {
  const s = name.trim().toLowerCase().replace(/[^a-z0-9]+/g, '_').replace(/^_+|_+$/g, '');
  return s === '' || s.length > 80 ? undefined : s;
}

/** The next number after the highest `NNNN_*.sql` in `dir`, and the width to write it with (4 at least). */
export function nextNumber(dir: string): { n: number; width: number } {
  let max = 0;
  let width = 4;
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return { n: 1, width };
  }
  for (const name of names) {
    const m = /^(\d+)_.*\.sql$/.exec(name);
    if (!m) continue;
    max = Math.max(max, Number(m[1]));
    width = Math.max(width, m[1]!.length);
  }
  return { n: max + 1, width };
}

function main(args: string[]): number {
  const name = slug(args.join(' '));
  if (!name) {
    console.error('usage: npm run migration:new -- <name>   (e.g. add_description: letters and digits, 80 at most)');
    return 2;
  }
  const dir = join(projectRoot, 'plugin', 'migrations');
  mkdirSync(dir, { recursive: true });
  const { n, width } = nextNumber(dir);
  const file = `${String(n).padStart(width, '0')}_${name}.sql`;
  const header =
    `-- ${loadConfig().moduleId}/${file}: ${name.replace(/_/g, ' ')}\n` +
    "-- Runs once in each tenant's schema, in that tenant's transaction: create tables with unqualified\n" +
    '-- names and no tenant_id. Once applied, never edit it (its checksum is recorded): add another.\n\n';
  writeFileSync(join(dir, file), header, { flag: 'wx' });
  console.log(`created ${relative(projectRoot, join(dir, file))} (npm run dev applies it when it is saved; else npm run bootstrap)`);
  return 0;
}

if (isEntryPoint(import.meta.url)) process.exitCode = main(process.argv.slice(2));
