/** A small client for the admin API: every CLI command goes through it, never to the database files. */
export class AdminError extends Error {
  readonly status: number;
  readonly body: unknown;
  constructor(status: number, body: unknown) {
    const b = body as { error_description?: string; error?: string } | undefined;
    super(b?.error_description ?? b?.error ?? `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

/** Where the CLI sends its requests, and the bearer token it proves itself with. */
export interface AdminTarget {
  base: string;
  token: string;
}

export async function adminRequest(target: AdminTarget, method: string, path: string, body?: unknown): Promise<unknown> {
  let res: Response;
  const base = target.base;
  const send = body ?? (method === 'POST' ? {} : undefined);
  try {
    res = await fetch(`${base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${target.token}`,
        ...(send === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(send === undefined ? {} : { body: JSON.stringify(send) }),
    });
  } catch {
    throw new AdminError(0, { error: 'unreachable', error_description: `cannot reach the admin API at ${base}; is Handoff running?` });
  }
  const text = await res.text();
  const parsed: unknown = text ? JSON.parse(text) : null;
  if (!res.ok) throw new AdminError(res.status, parsed);
  return parsed;
}
