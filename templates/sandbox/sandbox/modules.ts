// The modules this project bootstraps. In a sandbox: its one module, plugin/. (A foundation made by
// `modkit init --foundation` has its own modules.ts, listing every adapted module; bootstrap.ts is the same.)
import plugin, { permissions } from '../plugin/index.js';
import { loadConfig } from './config.js';
import type { ProjectModule } from './project-module.js';

/** The module of plugin/; an Error when modkit.toml names another one. */
export async function projectModules(): Promise<ProjectModule[]> {
  const config = loadConfig();
  if (config.moduleId !== plugin.meta.id) {
    throw new Error(`modkit.toml says [module] id = "${config.moduleId}" but plugin/index.ts says meta.id = "${plugin.meta.id}"`);
  }
  return [
    {
      id: plugin.meta.id,
      name: config.moduleName,
      permissions,
      migrationsDir: new URL('../plugin/migrations/', import.meta.url),
      source: 'plugin/index.ts',
    },
  ];
}
