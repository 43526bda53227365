// The module's API as the client sees it: same-origin /api, proxied by Vite to the sandbox API.
import { apiBase, devUser } from '@client/config.js';

export interface Item {
  id: string;
  name: string;
  createdAt: string;
  updatedAt: string;
}

export class ApiError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

async function call<T>(tenant: string, path: string, init: RequestInit = {}): Promise<T> {
  const res = await fetch(`${apiBase}${path}`, {
    ...init,
    headers: { 'Content-Type': 'application/json', 'X-Tenant-Id': tenant, 'X-User-Id': devUser },
  });
  const body = (await res.json().catch(() => ({}))) as { data?: T; error?: string };
  if (!res.ok) throw new ApiError(res.status, body.error ?? `HTTP ${res.status}`);
  return body.data as T;
}

export const listItems = (tenant: string) => call<Item[]>(tenant, '');

export const createItem = (tenant: string, name: string) =>
  call<Item>(tenant, '', { method: 'POST', body: JSON.stringify({ name }) });

export const deleteItem = (tenant: string, id: string) => call<Item>(tenant, `/${id}`, { method: 'DELETE' });
