// The adapted modules: every <modules_dir>/<id>/ (modkit.toml, default src/modules) holding the
// module.config.ts that `modkit adapt` writes. The registry (server.ts) mounts their routers and
// bootstrap.ts registers their permissions and applies their migrations.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { loadConfig, projectRoot } from './config.js';
import type { ProjectModule as BaseModule } from './project-module.js';

export interface NavItem {
  path: string;
  label: string;
  /** The permissions a user needs to see the entry (all of them); none: every user of the tenant. */
  permissions?: string[];
}

/** module.config.ts's default export, as `modkit adapt` writes it. */
export interface ModuleConfig {
  id: string;
  name: string;
  version: string;
  api?: string;
  permissions: string[];
  nav?: { basePath: string; items: NavItem[] };
}

/** An adapted module: what bootstrap.ts reads of it (project-module.ts, shared with the sandbox), its config and routes. */
export interface ProjectModule extends BaseModule {
  config: ModuleConfig;
  /** The adapter's file (server/routes/index.ts), relative to the project root. */
  routes: string;
}

// Under `npm run dev` the API runs compiled in .modkit/dev/ (server/dev.mjs), where `import.meta.url`
// is made to name the .ts source. Read through a variable, it is the file really running: then the
// modules are imported from their compiled .js too (plain Node cannot load the .ts).
const meta = import.meta;
const compiled = /\/\.modkit\/dev\/.*\.js$/.test(meta.url);

/** The file to import() for a project file (`src/modules/items/module.config.ts`): its compiled form under npm run dev. */
function projectFile(rel: string): string {
  return compiled ? join(projectRoot, '.modkit', 'dev', rel.replace(/\.ts$/, '.js')) : join(projectRoot, rel);
}

/** The URL to import() a project file (`src/modules/items/module.config.ts`) with. */
export function projectFileUrl(rel: string): string {
  return pathToFileURL(projectFile(rel)).href;
}

/** The modules folder, relative to the project root. */
export function modulesDir(): string {
  return loadConfig().foundation?.modulesDir ?? 'src/modules';
}

/**
 * A module's migrations folder, as modkit finds it: `<migrations_dir>/<id>/` at the root (where
 * `modkit adapt` puts them, out of the build's way), or `<modules_dir>/<id>/migrations/` of a module
 * adapted before; both with files is an Error (one would be silently skipped).
 */
function migrationsOf(modulesDir: string, id: string): string {
  const fresh = join(projectRoot, loadConfig().foundation?.migrationsDir ?? 'migrations', id);
  const old = join(projectRoot, modulesDir, id, 'migrations');
  const hasSql = (d: string) => existsSync(d) && readdirSync(d).some((f) => f.endsWith('.sql'));
  if (existsSync(fresh) && hasSql(old)) {
    throw new Error(`module "${id}" has migrations in two folders: ${fresh} and ${old}; keep one (move the files of the second into the first)`);
  }
  return existsSync(old) && !existsSync(fresh) ? old : fresh;
}

/**
 * Every adapted module, sorted by id; an Error naming the file when a module.config.ts is wrong. Under
 * npm run dev a module counts once its module.config.ts is compiled: `modkit adapt` writes a module
 * file by file while the launcher compiles what it finds at each change, so a module.config.ts that
 * arrived since the last compile waits for the next one (the launcher's dbSources() counts alike).
 */
export async function projectModules(): Promise<ProjectModule[]> {
  const dir = modulesDir();
  const root = join(projectRoot, dir);
  if (!existsSync(root)) return [];
  const modules: ProjectModule[] = [];
  const ids = readdirSync(root, { withFileTypes: true })
    .filter((e) => e.isDirectory() && !e.name.startsWith('.') && existsSync(projectFile(`${dir}/${e.name}/module.config.ts`)))
    .map((e) => e.name)
    .sort();
  for (const id of ids) {
    const source = `${dir}/${id}/module.config.ts`;
    const loaded = (await import(projectFileUrl(source))) as { default?: Partial<ModuleConfig> };
    const config = loaded.default;
    if (!config || config.id !== id || typeof config.name !== 'string' || !Array.isArray(config.permissions)) {
      throw new Error(`${source}: the default export must be { id: "${id}", name, version, permissions: [...] } (run \`modkit adapt ${id}\` again)`);
    }
    modules.push({
      id,
      name: config.name,
      permissions: config.permissions,
      migrationsDir: pathToFileURL(migrationsOf(dir, id) + '/'),
      source,
      config: config as ModuleConfig,
      routes: `${dir}/${id}/server/routes/index.ts`,
    });
  }
  return modules;
}
