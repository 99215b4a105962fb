import type { Middleware } from 'koa';
import type { Config } from '../config/schema.js';
import { addressKey } from '../http/address.js';
import { clientIdOf, readProtocolForm } from '../http/body.js';
import { replayBody } from '../oidc/seams.js';
import { HttpError } from '../http/errors.js';
import { type Limit, take } from '../http/limits.js';
import { seal } from '../http/secrets.js';
import { sha256 } from '../store/hash.js';
import type { Store } from '../store/index.js';
import { sealUserCode } from './qr.js';
import { normalizeUserCode } from './user-code.js';

/**
 * `POST /device/auth` (RFC 8628 3.1, 3.2): the minting limits before oidc-provider runs, and after it, what the
 * library leaves out of the answer: `interval`, `verification_uri_complete_qr` (an SVG; `.png` and `.txt` at the same
 * path) and `status_uri`, the waiting screen's live status (status.ts).
 *
 * The status handle is the code's row key sealed with AES-GCM (http/secrets.ts, purpose `status-handle`): opaque,
 * unforgeable, never the device code, and it needs no column and no second statement.
 */
export interface AuthorizationDeps {
  config: Config;
  store: Store;
  issuer: string;
  secrets: () => string[];
}

/**
 * Device authorizations per address, and per client only when an operator set a ceiling: a per-client budget is
 * shared by every TV of that client, so it is a circuit breaker, off by default. The address comes first, so a
 * flood from one address is refused before it can touch the client's budget.
 */
export function mintLimits(config: Config, ip: string, clientId: string): Limit[] {
  const s = config.device;
  const refusal = { description: 'too many device authorizations; wait before starting another' };
  const limits: Limit[] = [
    {
      bucket: 'device-auth:address',
      key: addressKey(ip),
      windowSeconds: s.authorizationWindowSeconds,
      max: s.maxAuthorizationsPerIp,
      refusal,
    },
  ];
  if (s.maxAuthorizationsPerClient !== null) {
    limits.push({
      bucket: 'device-auth:client',
      key: clientId,
      windowSeconds: s.authorizationWindowSeconds,
      max: s.maxAuthorizationsPerClient,
      refusal,
    });
  }
  return limits;
}

/**
 * `device_flow_scopes` (client metadata): what a device authorization of this client may ask for. Anything else is
 * refused here with `invalid_scope`, before a code exists and before any user sees a request for it.
 */
async function checkDeviceScopes(store: Store, clientId: string, scope: string): Promise<void> {
  if (!clientId) return;
  const allowed = (await store.clients.find(clientId))?.device_flow_scopes;
  if (!Array.isArray(allowed)) return;
  const asked = scope.split(' ').filter(Boolean);
  const outside = (asked.length ? asked : ['openid']).filter((s) => !allowed.includes(s));
  if (outside.length) {
    throw new HttpError(400, 'invalid_scope', `this client may not ask a device for ${outside.join(' ')}`, { field: 'scope' });
  }
}

/** The `status_uri` handle of a device code, and back. */
export const statusHandle = (roots: string[], deviceCode: string) => seal(roots, 'status-handle', sha256(deviceCode));

export function deviceAuthorization(deps: AuthorizationDeps): Middleware {
  return async (ctx, next) => {
    if (ctx.method !== 'POST') return next();
    // The form is read here (and handed on to oidc-provider unchanged but for one default): the per-client ceiling
    // needs the client id, and a request with no scope (cli/oauth sends `scope=`) asks for `openid`, so the user
    // approves what the device then receives instead of an approval that ends in access_denied.
    let clientId = '';
    const raw = await readProtocolForm(ctx);
    if (raw) {
      const form = new URLSearchParams(raw.toString('utf8'));
      clientId = clientIdOf(form, ctx.get('authorization')) ?? '';
      let body = raw;
      await checkDeviceScopes(deps.store, clientId, form.get('scope') ?? '');
      if (!form.get('scope')?.trim()) {
        form.set('scope', 'openid');
        body = Buffer.from(form.toString(), 'utf8');
        ctx.req.headers['content-length'] = String(body.length);
      }
      replayBody(ctx, body);
    }
    await take(deps.store, mintLimits(deps.config, ctx.ip, clientId));
    await next();
    if (ctx.status !== 200) return;
    const body = ctx.body as Record<string, unknown> | undefined;
    const code = typeof body?.user_code === 'string' ? normalizeUserCode(body.user_code) : undefined;
    if (!body || !code || typeof body.device_code !== 'string') return;
    const roots = deps.secrets();
    body.interval = deps.config.device.pollInterval;
    body.verification_uri_complete_qr = `${deps.issuer}/device/qr/${sealUserCode(code, roots)}.svg`;
    body.status_uri = `${deps.issuer}/device/status/${statusHandle(roots, body.device_code)}`;
  };
}
