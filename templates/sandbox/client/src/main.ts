// The sandbox client: the current tenant's items, a form to add one, a tenant switcher.
// Imports go through the @client/ alias (tsconfig "paths" and vite.config.ts resolve it alike).
import { ApiError, createItem, deleteItem, listItems, type Item } from '@client/api.js';
import { devTenants } from '@client/config.js';

const select = document.querySelector<HTMLSelectElement>('#tenant')!;
const form = document.querySelector<HTMLFormElement>('#add')!;
const list = document.querySelector<HTMLUListElement>('#items')!;
const status = document.querySelector<HTMLParagraphElement>('#status')!;

// ?tenant=<code> selects (and adds) a tenant not listed in modkit.toml; the choice is remembered.
const fromUrl = new URLSearchParams(location.search).get('tenant');
const tenants = [...new Set([...devTenants, ...(fromUrl ? [fromUrl] : [])])];
for (const code of tenants) select.add(new Option(code, code));
select.value = fromUrl ?? localStorage.getItem('sandbox.tenant') ?? tenants[0] ?? '';
if (select.value === '' && tenants[0]) select.value = tenants[0];

function showError(err: unknown): void {
  let hint = '';
  if (err instanceof ApiError && err.status === 403) hint = ' (run npm run bootstrap to seed the dev role)';
  // A tenant picked with ?tenant= that the database does not have: say how to create it.
  else if (err instanceof ApiError && err.status === 404 && err.message.startsWith('unknown tenant'))
    hint = ` (create it: npm run bootstrap -- --tenant ${select.value}, or add it to [dev] tenants in modkit.toml)`;
  status.textContent = `${err instanceof Error ? err.message : String(err)}${hint}`;
}

function render(items: Item[]): void {
  list.replaceChildren(
    ...items.map((item) => {
      const li = document.createElement('li');
      li.dataset.id = item.id;
      const name = document.createElement('span');
      name.textContent = item.name; // textContent: a name is data, never markup
      const remove = document.createElement('button');
      remove.textContent = 'Delete';
      remove.addEventListener('click', () => {
        deleteItem(select.value, item.id).then(refresh, showError);
      });
      li.append(name, remove);
      return li;
    }),
  );
  if (items.length === 0) status.textContent = `No items in tenant ${select.value} yet.`;
}

async function refresh(): Promise<void> {
  status.textContent = '';
  try {
    render(await listItems(select.value));
  } catch (err) {
    list.replaceChildren();
    showError(err);
  }
}

select.addEventListener('change', () => {
  localStorage.setItem('sandbox.tenant', select.value);
  void refresh();
});

form.addEventListener('submit', (event) => {
  event.preventDefault();
  const input = form.elements.namedItem('name') as HTMLInputElement;
  createItem(select.value, input.value).then(() => {
    form.reset();
    return refresh();
  }, showError);
});

void refresh();
