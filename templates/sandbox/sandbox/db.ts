// npm run db:start | db:stop | db:status, and `npm test`'s `ensure`: the local database by hand (the same
// as `modkit db start|stop|status`). An entry script: it only calls localdb.ts and bootstrap.ts.
import { ensureLocalDb } from './bootstrap.js';
import { isEntryPoint, redactUrl } from './config.js';
import { hasExplicitDatabase, LOCAL_DIR, localDbState, localDbUrl, refuseRootInAnothersProject, stopLocalDb } from './localdb.js';

async function main(command: string | undefined): Promise<number> {
  refuseRootInAnothersProject(); // before anything is read or written in another user's project
  switch (command) {
    case 'ensure': // npm test: the local database unless a server is named; quiet when it runs already
      if (!hasExplicitDatabase()) await ensureLocalDb();
      return 0;
    case 'start':
      if (hasExplicitDatabase()) {
        console.log('DATABASE_URL or modkit.toml names a database server: the local database is not used');
        return 0;
      }
      if ((await ensureLocalDb()).reused) console.log(`the local database is running: ${redactUrl(localDbUrl()!)}`);
      return 0;
    case 'stop':
      console.log((await stopLocalDb()) ? 'stopped the local database' : 'the local database is not running');
      return 0;
    case 'status': {
      const s = localDbState();
      const url = localDbUrl();
      console.log(`local database: ${s.state === 'running' ? `running (pid ${s.pid})` : s.state}${url ? `: ${redactUrl(url)}` : ''}`);
      console.log(`  folder: ${LOCAL_DIR}`);
      return s.state === 'running' ? 0 : 1;
    }
    default:
      console.error('usage: tsx sandbox/db.ts start|stop|status|ensure');
      return 2;
  }
}

if (isEntryPoint(import.meta.url)) {
  main(process.argv[2]).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      console.error(`error: ${(err as Error).message}`);
      process.exitCode = 2;
    },
  );
}
