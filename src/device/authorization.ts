import type { Middleware } from 'koa';
import type { Config } from '../config/schema.js';
import { addressKey } from '../http/address.js';
import { clientIdOf, formText, protocolForm, rewriteBody } from '../http/body.js';
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
 * `device_flow_scopes` (client metadata): what a device authorization of this client may ask for. The scopes outside
 * it, none when the client has no such list. An empty request asks for `openid` (see below).
 */
export function outsideDeviceScopes(metadata: Record<string, unknown> | undefined, scope: string): string[] {
  const allowed = metadata?.device_flow_scopes;
  if (!Array.isArray(allowed)) return [];
  const asked = scope.split(' ').filter(Boolean);
  return (asked.length ? asked : ['openid']).filter((s) => !allowed.includes(s));
}

/** Refused here with `invalid_scope`, before a code exists and before any user sees a request for it. */
async function checkDeviceScopes(store: Store, clientId: string, scope: string): Promise<void> {
  if (!clientId) return;
  const outside = outsideDeviceScopes(await store.clients.find(clientId), scope);
  if (outside.length) {
    throw new HttpError(400, 'invalid_scope', `this client may not ask a device for ${outside.join(' ')}`, { field: 'scope' });
  }
}

/** The `status_uri` handle of a device code, and back. */
export const statusHandle = (roots: string[], deviceCode: string) => seal(roots, 'status-handle', sha256(deviceCode));

export function deviceAuthorization(deps: AuthorizationDeps): Middleware {
  return async (ctx, next) => {
    if (ctx.method !== 'POST') return next();
    // The form is read here by the one reader (whatever its framing or charset), and oidc-provider reads the same:
    // the per-client ceiling needs the client id, `device_flow_scopes` the scope, and a request with no scope
    // (cli/oauth sends `scope=`) asks for `openid`, so the user approves what the device then receives instead of an
    // approval that ends in access_denied. A repeated `scope` is left to oidc-provider, which refuses it.
    const form = await protocolForm(ctx.req, deps.config.bodyLimitBytes);
    const clientId = clientIdOf(form, ctx.get('authorization')) ?? '';
    const scope = form?.scope;
    if (form && !Array.isArray(scope)) {
      await checkDeviceScopes(deps.store, clientId, scope ?? '');
      if (!scope?.trim()) {
        form.scope = 'openid';
        rewriteBody(ctx.req, formText(form));
      }
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
