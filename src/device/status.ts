import Router from '@koa/router';
import type { Config } from '../config/schema.js';
import type { WaitRegistry } from '../events/waits.js';
import { openEventStream } from '../http/event-stream.js';
import { unseal } from '../http/secrets.js';
import type { Store } from '../store/index.js';
import { maskedAccountName } from '../views/names.js';
import { handoffState, isFinal } from './flow.js';

/**
 * `status_uri`: a waiting screen follows its handoff without polling. The URL holds a sealed handle
 * (authorization.ts), never the device code. `text/event-stream` gets `retry`, the current state at once, every
 * change after it, and heartbeat comments; the stream ends after `approved`, `denied` or `expired`.
 * `Accept: application/json` gets the current state once. Events carry the state and, once approved, a masked
 * display name: no tokens, codes or personal data.
 */
export interface StatusDeps {
  config: Config;
  store: Store;
  waits: WaitRegistry;
  secrets: () => string[];
}

/** What a waiting screen is shown of a handoff (by its row key): the state, and once approved a masked name. */
export async function statusView(store: Store, key: string) {
  const h = await handoffState(store, key);
  if (!h) return undefined;
  const account = h.state === 'approved' && h.accountId ? await maskedAccountName(store, h.accountId) : undefined;
  // Number matching: once the code was opened on a phone, the number the device shows (never the phone's choices).
  const data = account ? { state: h.state, account } : h.number !== undefined ? { state: h.state, number: h.number } : { state: h.state };
  return { data, final: isFinal(h.state), changesAt: h.exp * 1000 + 50 };
}

/** The row key inside a status handle, or undefined for anything Handoff did not make. */
export function keyOfHandle(roots: string[], handle: string): string | undefined {
  const key = unseal(roots, 'status-handle', handle);
  return key && /^[0-9a-f]{64}$/.test(key) ? key : undefined;
}

export function statusRoutes(deps: StatusDeps): Router {
  const { store, waits, config } = deps;
  const router = new Router();
  const view = (key: string) => statusView(store, key);

  router.get('/device/status/:handle', async (ctx) => {
    const key = keyOfHandle(deps.secrets(), ctx.params.handle ?? '');
    const first = key ? await view(key) : undefined;
    ctx.set('Cache-Control', 'no-store');
    if (!key || !first) {
      ctx.status = 404;
      ctx.body = { error: 'not_found', error_description: 'no such handoff' };
      return;
    }
    if (ctx.accepts('text/event-stream', 'application/json') !== 'text/event-stream') {
      ctx.body = first.data;
      return;
    }
    ctx.respond = false;
    openEventStream({ res: ctx.res, ip: ctx.ip }, { waits, ...config.realtime }, key, view, first);
  });
  return router;
}
