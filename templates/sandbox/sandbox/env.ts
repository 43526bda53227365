// The project's `.env`, read the way modkit reads it: the process's own environment wins, then `.env`.
// Importing this module loads it once into process.env, so `npm run dev`, `npm run bootstrap`, `npm test`
// and `npm start` see the same DATABASE_URL, PORT and VITE_PORT as `modkit bootstrap` and `modkit db`.
// It is the bottom of the sandbox's imports: it imports no other sandbox file.
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * `NAME=value` lines as dotenv writes them: `#` comments, an optional `export `, values in single quotes
 * (taken as they are), double quotes (\n and \" understood) or bare (a ` #` starts a comment).
 */
export function parseDotEnv(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = /^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.*)$/.exec(line);
    if (!m) continue;
    const name = m[1]!;
    let value = m[2]!;
    if (value.startsWith("'") && value.lastIndexOf("'") > 0) value = value.slice(1, value.lastIndexOf("'"));
    else if (value.startsWith('"') && value.lastIndexOf('"') > 0)
      value = value.slice(1, value.lastIndexOf('"')).replace(/\\n/g, '\n').replace(/\\"/g, '"');
    else value = value.replace(/\s+#.*$/, '').trim();
    out.set(name, value);
  }
  return out;
}

/** The names `.env` set (those the environment did not set already). A missing `.env` sets none. */
export function loadDotEnv(env: NodeJS.ProcessEnv = process.env, file = join(root, '.env')): string[] {
  let text: string;
  try {
    // A folder or a FIFO named .env is never opened (a FIFO would block): modkit refuses it, and
    // `modkit doctor` says so; here it is passed over.
    if (!statSync(file).isFile()) return [];
    text = readFileSync(file, 'utf8');
  } catch {
    return [];
  }
  const set: string[] = [];
  for (const [name, value] of parseDotEnv(text)) {
    if (env[name] !== undefined) continue;
    env[name] = value;
    set.push(name);
  }
  return set;
}

/** What `.env` set in this process. */
export const fromDotEnv: readonly string[] = loadDotEnv();
