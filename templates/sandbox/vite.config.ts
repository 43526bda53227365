// The client lives in client/; `/api` goes to the sandbox API (PORT, default 3001), so the browser
// calls its own origin. `@client/*` resolves as in tsconfig.json. `npm run dev` always sets PORT and
// VITE_PORT to the project's own ports (sandbox/ports.ts) and Vite insists on its port: a taken port
// is an error, never the next free one, whose /api would be another project's API.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const apiPort = process.env.PORT ?? '3001';
const proxy = { '/api': { target: `http://127.0.0.1:${apiPort}` } };

export default defineConfig({
  root: fileURLToPath(new URL('./client', import.meta.url)),
  resolve: {
    alias: { '@client': fileURLToPath(new URL('./client/src', import.meta.url)) },
  },
  server: { port: Number(process.env.VITE_PORT) || 5173, strictPort: Boolean(process.env.VITE_PORT), proxy },
  preview: { port: 4173, proxy },
  build: { outDir: fileURLToPath(new URL('./dist/client', import.meta.url)), emptyOutDir: true },
});
