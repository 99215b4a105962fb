import { randomBytes } from 'node:crypto';
import { type BackchannelAuthenticationRequest, errors, type KoaContextWithOIDC } from 'oidc-provider';
import { canonicalUsername } from '../accounts/sign-in-limits.js';
import type { Config } from '../config/schema.js';
import type { EventBus } from '../events/bus.js';
import { type WaitRegistry, waitUntil } from '../events/waits.js';
import { addressKey } from '../http/address.js';
import { seal } from '../http/secrets.js';
import type { Limit } from '../http/limits.js';
import { audit } from '../ops/audit.js';
import { isHandle, keyFor } from '../oidc/adapter.js';
import { sha256 } from '../store/hash.js';
import type { Store } from '../store/index.js';
import { preferredWait } from '../device/prefer.js';

/**
 * Backchannel approval, OpenID CIBA Core 1.0 (poll and ping), on oidc-provider's `features.ciba`: a relying party names
 * the user (`login_hint`: a username or a verified address; or `id_token_hint`), the user's signed-in phone approves
 * (ciba/phone.ts), and the relying party gets the tokens by polling the token endpoint (or a held request, as for
 * device codes), or is pinged at its `backchannel_client_notification_endpoint` first.
 *
 * ```
 * POST /backchannel ── processLoginHint (limits, the account) ── library saves the request ──
 *   triggerAuthenticationDevice (the phone's row, the account's stream, a push) ── { auth_req_id, expires_in, interval }
 * phone: pending ──(Approve: a grant of exactly the scopes shown; backchannelResult)──▶ approved ──▶ tokens (or ping)
 *          └──(Decline, "I didn't start this": backchannelResult(AccessDenied))──▶ access_denied
 * ```
 *
 * Limits no one can turn against others (`ciba.*` per window): requests per client (all users) and per client and
 * user, taken as soon as a `login_hint` is looked up (the same statements for a known user and for no one), or in the
 * library's last step before it records a request for any other hint; a client's budget is spent by its own
 * requests, known user or not. No limit is shared between apps: a flood from one app
 * cannot bury a phone (the phone lists each app's newest request once, and pushes per user are limited over all
 * apps), and cannot get another app refused.
 */
export const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';

export interface CibaDeps {
  config: Config;
  store: Store;
  bus: EventBus;
  waits: WaitRegistry;
  /** Cookie keys, newest first: the `auth_req_id` is kept sealed with them until the phone decides. */
  secrets: () => string[];
  /** Tells the account's phones (web push, ciba/push.ts), after the request is recorded; never throws. */
  notify?: (accountId: string, clientName: string, requestId: string) => void;
}

/** The bus key of an account's waiting requests (its phone pages follow it); 64 hex digits like every handoff key. */
export const accountKey = (accountId: string) => sha256(`backchannel-account:${accountId}`);

/**
 * The characters a `binding_message` may hold, at most 64 (it is shown to a person, escaped): no control or format
 * characters, so no direction override can make it read as something else.
 */
const BINDING = /^[^\p{Cc}\p{Cf}\u2028\u2029]{1,64}$/u;

function slowDown(description: string, retryAfter: number, ctx: KoaContextWithOIDC): never {
  ctx.set('Retry-After', String(Math.max(1, Math.ceil(retryAfter))));
  throw Object.assign(new errors.SlowDown(description), { status: 429, statusCode: 429 });
}

export function cibaHooks(deps: CibaDeps) {
  const { config, store } = deps;
  const window = config.ciba.windowSeconds;
  const limits = (clientId: string, accountId?: string): Limit[] =>
    accountId === undefined
      ? [{ bucket: 'ciba:client', key: clientId, windowSeconds: window, max: config.ciba.maxPerClient }]
      : [{ bucket: 'ciba:client-user', key: `${clientId}|${accountId}`, windowSeconds: window, max: config.ciba.maxPerClientAndUser }];

  /** Requests whose limits were taken as their `login_hint` was read (verifyUserCode takes them for other hints). */
  const limited = new WeakSet<KoaContextWithOIDC>();
  const take = async (ctx: KoaContextWithOIDC, accountId: string | undefined) => {
    const clientId = ctx.oidc.client?.clientId ?? '';
    const spent = await store.counters.take(
      accountId === undefined ? limits(clientId) : [...limits(clientId), ...limits(clientId, accountId)],
    );
    if (spent)
      slowDown(
        spent.index === 0 ? 'too many backchannel requests from this client' : 'too many backchannel requests for this user',
        spent.retryAfter,
        ctx,
      );
  };

  return {
    /**
     * A `login_hint` costs the same two statements whether it names someone or no one: the look-up, then one take of
     * the limits (the client's; and the client's for this user when there is one), before anything else is read. So a
     * name that is no one still spends the client's own budget (guessing names costs the guesser), and a client over
     * its budget is refused alike for both. Only a known user's request goes on (the library loads the account and
     * records the request).
     */
    async processLoginHint(ctx: KoaContextWithOIDC, hint?: string): Promise<string | undefined> {
      const typed = hint ?? '';
      const accountId = await store.users.byLoginHint(canonicalUsername(typed) ?? typed);
      await take(ctx, accountId);
      limited.add(ctx);
      return accountId;
    },
    async processLoginHintToken(): Promise<string | undefined> {
      throw new errors.InvalidRequest('login_hint_token is not supported; use login_hint or id_token_hint');
    },
    async validateBindingMessage(_ctx: KoaContextWithOIDC, message?: string): Promise<void> {
      if (message !== undefined && !BINDING.test(message))
        throw new errors.InvalidBindingMessage('binding_message must be 1 to 64 printable characters');
    },
    async validateRequestContext(): Promise<void> {},
    /**
     * The library's last step before it records a request, for every way of naming the user: the limits of a request
     * whose user was not named by a `login_hint` (an `id_token_hint`) are taken here, so no hint type passes them. A
     * `user_code`, if sent, is ignored (`backchannel_user_code_parameter_supported` is false, CIBA 7.1).
     */
    async verifyUserCode(ctx: KoaContextWithOIDC, account: { accountId: string }): Promise<void> {
      if (!limited.has(ctx)) await take(ctx, account.accountId);
    },
    async triggerAuthenticationDevice(
      ctx: KoaContextWithOIDC,
      request: BackchannelAuthenticationRequest,
      account: { accountId: string },
      client: { clientId: string; clientName?: string | undefined },
    ): Promise<void> {
      const params = request.params as Record<string, unknown>;
      const text = (v: unknown) => (typeof v === 'string' && v ? v : null);
      const id = randomBytes(16).toString('base64url');
      await store.backchannel.insert({
        id,
        request_key: keyFor(String(request.jti), 'BackchannelAuthenticationRequest'),
        sealed_id: seal(deps.secrets(), 'backchannel', String(request.jti)),
        account_id: account.accountId,
        client_id: client.clientId,
        scope: String(request.scope ?? ''),
        binding_message: text(params.binding_message),
        acr_values: text(params.acr_values),
        requester_ip: ctx.ip,
        requester_ua: ctx.get('user-agent').slice(0, 512) || null,
        seconds: config.ciba.requestSeconds,
      });
      await audit(store, {
        action: 'ciba.requested',
        accountId: account.accountId,
        clientId: client.clientId,
        deviceIp: ctx.ip,
        deviceUa: ctx.get('user-agent') || null,
        actorIp: ctx.ip,
      });
      // CIBA 7.3: the interval a polling client waits between polls.
      (ctx.body as Record<string, unknown>).interval = config.device.pollInterval;
      await deps.bus.publish(accountKey(account.accountId));
      // Pushes per user are limited over all apps; one beyond the limit is listed on the phone, not pushed, so no app
      // can keep a phone buzzing, and no app is refused because of another.
      const quiet = await store.counters.take([
        { bucket: 'ciba:push', key: account.accountId, windowSeconds: window, max: config.ciba.maxPerUser },
      ]);
      if (!quiet) deps.notify?.(account.accountId, client.clientName ?? client.clientId, id);
    },
  };
}

/**
 * The CIBA grant at the token endpoint, around the library's own handler (oidc/seams.ts `overrideCibaGrant`): a
 * handle is never an `auth_req_id` (the adapter's row handles are the phone's, never a client's), polls are paced at
 * one per `interval` per request (`slow_down`), and `Prefer: wait=N` holds the request until the phone decides, N
 * seconds pass, the client hangs up or the instance shuts down. Then the library answers as it always does
 * (tokens, `authorization_pending`, `access_denied`, `expired_token`).
 */
export function cibaGrant(deps: CibaDeps) {
  const { config, store } = deps;
  return async (ctx: KoaContextWithOIDC, issue: () => Promise<void>): Promise<void> => {
    const id = ctx.oidc.params?.auth_req_id;
    if (typeof id !== 'string' || isHandle(id)) throw new errors.InvalidGrant('backchannel authentication request not found');
    const key = keyFor(id, 'BackchannelAuthenticationRequest');
    const interval = config.device.pollInterval;
    const paced = await store.counters.take([{ bucket: 'ciba:poll', key, windowSeconds: interval, max: 1 }]);
    if (paced) throw new errors.SlowDown('polling faster than the interval');
    const wait = preferredWait(ctx.get('prefer'), config.realtime.maxWaitSeconds);
    if (wait !== undefined) {
      const decided = async () => (await store.backchannel.byKey(key))?.status !== 'pending';
      const held = await waitUntil(deps.waits, {
        key,
        address: addressKey(ctx.ip),
        deadline: Date.now() + wait * 1000,
        check: decided,
        onGone: (fn) => ctx.res.once('close', fn),
      });
      if (held === 'gone') return;
      if (held === 'done') ctx.set('Preference-Applied', `wait=${wait}`);
    }
    await issue();
  };
}
