// npm run dev: the local database (unless DATABASE_URL or modkit.toml names a server), then the API
// (restarted on change) and the Vite client together; Vite proxies /api to the API. Either one exiting
// stops the other; Ctrl-C or SIGTERM stops both, and the local database if this run started it.
import { spawn, type ChildProcess } from 'node:child_process';
import { hasExplicitDatabase, startLocalDb, stopLocalDb } from './localdb.js';

let startedDb = false;
if (!hasExplicitDatabase()) {
  try {
    startedDb = !(await startLocalDb()).reused;
  } catch (err) {
    console.error(`error: ${(err as Error).message}`);
    process.exit(2);
  }
}

const shell = process.platform === 'win32'; // .cmd shims need a shell on Windows
const children: ChildProcess[] = [
  spawn('tsx', ['watch', 'sandbox/server.ts'], { stdio: 'inherit', shell }),
  spawn('vite', [], { stdio: 'inherit', shell }),
];
const running = new Set(children);

let exiting = false;
/** Stop every child, wait for them, then the database we started; exit with `code`. */
async function shutdown(code: number, signal?: NodeJS.Signals): Promise<void> {
  if (exiting) return;
  exiting = true;
  for (const child of running) child.kill(signal ?? 'SIGTERM');
  const deadline = Date.now() + 5000;
  while (running.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  if (startedDb) {
    try {
      await stopLocalDb();
      console.log('[db] stopped the local database');
    } catch (err) {
      console.error(`[db] ${(err as Error).message}`);
    }
  }
  process.exit(code);
}

for (const child of children) {
  child.on('exit', (code, signal) => {
    running.delete(child);
    void shutdown(code ?? (signal ? 1 : 0));
  });
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => void shutdown(0, signal));
}
