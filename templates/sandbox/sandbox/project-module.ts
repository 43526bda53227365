// What bootstrap.ts needs of each module the project bootstraps. modules.ts lists them: in a sandbox
// the one module of plugin/, in a foundation (`modkit init --foundation`) every adapted module, whose
// entries carry more (their module.config.ts and routes) on top of this.
export interface ProjectModule {
  id: string;
  name: string;
  permissions: readonly string[];
  /** The folder of its migrations (*.sql, applied in name order). */
  migrationsDir: URL;
  /** Where its permissions are declared, for messages. */
  source: string;
}
