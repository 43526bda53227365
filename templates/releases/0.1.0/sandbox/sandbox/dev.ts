// npm run dev: the API (restarted on change) and the Vite client together; Vite proxies /api to the API.
// Either one exiting stops the other.
import { spawn, type ChildProcess } from 'node:child_process';

const shell = process.platform === 'win32'; // .cmd shims need a shell on Windows
const children: ChildProcess[] = [
  spawn('tsx', ['watch', 'sandbox/server.ts'], { stdio: 'inherit', shell }),
  spawn('vite', [], { stdio: 'inherit', shell }),
];

let exiting = false;
for (const child of children) {
  child.on('exit', (code, signal) => {
    if (exiting) return;
    exiting = true;
    for (const other of children) if (other !== child) other.kill('SIGTERM');
    process.exitCode = code ?? (signal ? 1 : 0);
  });
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    for (const child of children) child.kill(signal);
  });
}
