// The client shell: the modules of the registry (GET /api/modules) and the nav entries the current user
// may see in the current tenant; a tenant and user picker for development (they become the X-Tenant-Id
// and X-User-Id headers, as the dev identity of the API expects). A nav entry opens a generic page over
// the module's main resource, /api/plugins/<id>/<id> (what `modkit init <id>` generates): its records
// and a form to add one. A module with its own pages replaces this page with them.
const devTenants: string[] = [{% for t in dev_tenants %}'{{ t }}'{% if not loop.last %}, {% endif %}{% endfor %}];

interface NavEntry {
  path: string;
  label: string;
}
interface ModuleEntry {
  id: string;
  name: string;
  version: string;
  nav: NavEntry[];
}
interface Row {
  id: string;
  name?: string;
}

const tenantInput = document.querySelector<HTMLInputElement>('#tenant')!;
const userInput = document.querySelector<HTMLInputElement>('#user')!;
const nav = document.querySelector<HTMLElement>('#nav')!;
const title = document.querySelector<HTMLHeadingElement>('#title')!;
const status = document.querySelector<HTMLParagraphElement>('#status')!;
const page = document.querySelector<HTMLElement>('#page')!;
const form = document.querySelector<HTMLFormElement>('#add')!;
const records = document.querySelector<HTMLUListElement>('#records')!;

// ?tenant=<code>&user=<id> pick them from the address (and are remembered), else the last choice.
const params = new URLSearchParams(location.search);
tenantInput.value = params.get('tenant') ?? localStorage.getItem('shell.tenant') ?? devTenants[0] ?? 'dev';
userInput.value = params.get('user') ?? localStorage.getItem('shell.user') ?? 'dev';
document.querySelector('#tenants')!.replaceChildren(...devTenants.map((t) => new Option(t, t)));

let current: ModuleEntry | undefined;

async function call<T>(path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(path, {
    ...init,
    headers: { 'Content-Type': 'application/json', 'X-Tenant-Id': tenantInput.value.trim(), 'X-User-Id': userInput.value.trim() },
  });
  const body = (await res.json().catch(() => ({}))) as { data?: T; error?: string };
  if (!res.ok) throw new Error(`${res.status}: ${body.error ?? res.statusText}`);
  return body.data as T;
}

function showError(err: unknown): void {
  status.textContent = err instanceof Error ? err.message : String(err);
}

async function loadNav(): Promise<void> {
  status.textContent = '';
  let modules: ModuleEntry[] = [];
  try {
    modules = await call<ModuleEntry[]>('/api/modules');
  } catch (err) {
    showError(err);
  }
  nav.replaceChildren(
    ...modules.map((m) => {
      const section = document.createElement('section');
      const h = document.createElement('h2');
      h.textContent = m.name;
      const ul = document.createElement('ul');
      for (const entry of m.nav) {
        const li = document.createElement('li');
        const a = document.createElement('a');
        a.href = `#${entry.path}`;
        a.textContent = entry.label; // textContent: names are data, never markup
        a.dataset.module = m.id;
        a.addEventListener('click', () => open(m, entry));
        li.append(a);
        ul.append(li);
      }
      section.append(h, ul);
      return section;
    }),
  );
  if (modules.length === 0 && !status.textContent) status.textContent = 'No modules yet: modkit adapt <module> --foundation .';
  current = modules.find((m) => m.id === current?.id && m.nav.length > 0);
  if (current) await refresh();
  else page.hidden = true;
}

function open(module: ModuleEntry, entry: NavEntry): void {
  current = module;
  title.textContent = entry.label;
  void refresh();
}

async function refresh(): Promise<void> {
  if (!current) return;
  page.hidden = false;
  status.textContent = '';
  try {
    const rows = await call<Row[]>(`/api/plugins/${current.id}/${current.id}`);
    records.replaceChildren(
      ...rows.map((row) => {
        const li = document.createElement('li');
        li.dataset.id = row.id;
        li.textContent = row.name ?? row.id;
        return li;
      }),
    );
    if (rows.length === 0) status.textContent = `No records in tenant ${tenantInput.value} yet.`;
  } catch (err) {
    records.replaceChildren();
    showError(err);
  }
}

form.addEventListener('submit', (event) => {
  event.preventDefault();
  if (!current) return;
  const input = form.elements.namedItem('name') as HTMLInputElement;
  call(`/api/plugins/${current.id}/${current.id}`, { method: 'POST', body: JSON.stringify({ name: input.value }) }).then(() => {
    form.reset();
    return refresh();
  }, showError);
});

for (const [input, key] of [
  [tenantInput, 'shell.tenant'],
  [userInput, 'shell.user'],
] as const) {
  input.addEventListener('change', () => {
    localStorage.setItem(key, input.value);
    void loadNav();
  });
}

void loadNav();
