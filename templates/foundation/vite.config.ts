// The client shell lives in client/; `/api` goes to the foundation's API (PORT, default 3001), so the
// browser calls its own origin. VITE_PORT moves the dev server off 5173 (and then insists on it).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const apiPort = process.env.PORT ?? '3001';
const proxy = { '/api': { target: `http://127.0.0.1:${apiPort}` } };

export default defineConfig({
  root: fileURLToPath(new URL('./client', import.meta.url)),
  server: { port: Number(process.env.VITE_PORT) || 5173, strictPort: Boolean(process.env.VITE_PORT), proxy },
  preview: { port: 4173, proxy },
  build: { outDir: fileURLToPath(new URL('./dist/client', import.meta.url)), emptyOutDir: true },
});
