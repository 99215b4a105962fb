import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import { ACR_PHISHING_RESISTANT, signInMethod } from '../accounts/passkeys.js';
import { freshSignInUrl } from '../accounts/sessions.js';
import type { Config } from '../config/schema.js';
import type { EventBus } from '../events/bus.js';
import type { WaitRegistry } from '../events/waits.js';
import { sameNetwork } from '../http/address.js';
import { readForm } from '../http/body.js';
import { unseal } from '../http/secrets.js';
import { checkCsrf, csrfToken } from '../http/csrf.js';
import { HttpError } from '../http/errors.js';
import { openEventStream } from '../http/event-stream.js';
import { type SignedIn, signedInUser } from '../http/session.js';
import type { Logger } from '../log.js';
import { crossDevice } from '../oidc/acr.js';
import type { Reporter } from '../ops/reports.js';
import type { BackchannelRequest } from '../store/backchannel.js';
import type { Store } from '../store/index.js';
import { cibaOutcomePage, decisionPage, type WaitingRequest } from '../views/ciba.js';
import { tFor } from '../views/context.js';
import { accountLabel } from '../views/sign-in.js';
import { accountKey } from './backchannel.js';
import { pushEndpointAllowed, pushKeysValid, type WebPush } from './push.js';
import { readJsonObject } from '../http/body.js';
import { readAsset } from '../http/assets.js';
import { tFor as langOf } from '../views/context.js';

/**
 * The phone's side of backchannel approval (ciba/backchannel.ts): the account's waiting requests (on "Your devices",
 * followed live by `GET /account/requests/events`), and the decision page of one request.
 *
 * A decision is the one guarded UPDATE of its row (pending → approved | denied | reported), then the library's
 * `backchannelResult`: on Approve a grant of exactly the scopes the page showed, with `acr`/`amr` saying it was a
 * cross-device approval (oidc/acr.ts), recorded on "Your devices" where it can be ended like any other; on Decline or
 * "I didn't start this", `access_denied`. Then held token requests wake (the request's key on the bus), a ping-mode
 * client is pinged by the library, and the account's other pages update. An app that asks for `phr` (by
 * `acr_values` or its registration) is approved only from a phone signed in with a passkey, as for device codes.
 */
export interface CibaPhoneDeps {
  config: Config;
  issuer: string;
  store: Store;
  bus: EventBus;
  waits: WaitRegistry;
  provider: () => Provider;
  secrets: () => string[];
  report: Reporter;
  log: Logger;
  onOutcome?: (kind: 'ciba', outcome: 'approved' | 'denied' | 'revoked') => void;
  /** Web Push subscriptions and messages (ciba/push.ts). */
  push: WebPush;
}

/** The waiting requests of an account, as "Your devices" lists them. */
export async function waitingFor(store: Store, provider: Provider, accountId: string): Promise<WaitingRequest[]> {
  const rows = await store.backchannel.pending(accountId);
  return Promise.all(
    rows.map(async (r) => ({ id: r.id, client: (await provider.Client.find(r.client_id))?.clientName ?? r.client_id, at: r.created_at })),
  );
}

const SERVICE_WORKER = readAsset('ciba/assets/push-sw.js');

export function cibaPhoneRoutes(deps: CibaPhoneDeps): Router {
  const { store } = deps;
  const router = new Router();

  const signedIn = async (ctx: Context): Promise<SignedIn> => {
    const who = await signedInUser(ctx, deps.provider());
    if (!who) throw new HttpError(401, 'login_required', 'Sign in to see what asks for you.', { key: 'error.accountSignIn' });
    return who;
  };
  const html = (ctx: Context, status: number, body: string) => {
    ctx.status = status;
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    ctx.body = body;
  };
  /** Whether the app wants a phishing-resistant sign-in: by this request's acr_values, or by its registration. */
  const wantsPhr = async (row: BackchannelRequest) => {
    if ((row.acr_values ?? '').split(' ').includes(ACR_PHISHING_RESISTANT)) return true;
    const client = await deps.provider().Client.find(row.client_id);
    return ((client?.metadata().default_acr_values ?? []) as string[]).includes(ACR_PHISHING_RESISTANT);
  };

  // The push service worker, at the origin's root so its scope is the whole site.
  router.get('/push-sw.js', (ctx) => {
    ctx.type = 'application/javascript';
    ctx.set('Cache-Control', 'no-cache');
    ctx.body = SERVICE_WORKER;
  });
  // Notifications on this phone (Web Push): the VAPID key its browser subscribes with, then the subscription.
  router.get('/account/push/key', async (ctx) => {
    await signedIn(ctx);
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { publicKey: await deps.push.publicKey() };
  });
  router.post('/account/push', async (ctx) => {
    const who = await signedIn(ctx);
    const body = await readJsonObject(ctx, deps.config.bodyLimitBytes);
    checkCsrf(deps.secrets(), typeof body.csrf === 'string' ? body.csrf : undefined, ['devices', who.sessionUid], 'error.formReload');
    const sub = body.subscription as { endpoint?: unknown; keys?: { p256dh?: unknown; auth?: unknown } } | undefined;
    const endpoint = typeof sub?.endpoint === 'string' ? sub.endpoint : '';
    const p256dh = typeof sub?.keys?.p256dh === 'string' ? sub.keys.p256dh : '';
    const auth = typeof sub?.keys?.auth === 'string' ? sub.keys.auth : '';
    if (!pushEndpointAllowed(deps.issuer, endpoint))
      throw new HttpError(400, 'invalid_request', "this push endpoint is not one of the browsers' push services");
    if (!/^[\w-]{80,100}$/.test(p256dh) || !/^[\w-]{20,32}$/.test(auth) || !pushKeysValid(p256dh, auth))
      throw new HttpError(400, 'invalid_request', 'malformed subscription keys');
    const ua = ctx.get('user-agent').slice(0, 512) || null;
    if (!(await deps.push.subscribe(who.accountId, { endpoint, p256dh, auth }, langOf(ctx).lang, ua)))
      throw new HttpError(409, 'conflict', 'this push subscription belongs to another account');
    ctx.status = 201;
    ctx.body = { subscribed: true };
  });

  // The account's waiting requests, live: the list of ids, again whenever one arrives or is decided.
  router.get('/account/requests/events', async (ctx) => {
    const who = await signedIn(ctx);
    const key = accountKey(who.accountId);
    ctx.respond = false;
    openEventStream({ res: ctx.res, ip: ctx.ip }, { waits: deps.waits, ...deps.config.realtime }, key, async () => ({
      data: { pending: (await store.backchannel.pending(who.accountId)).map((r) => r.id) },
      final: false,
    }));
  });

  router.get('/account/requests/:id', async (ctx) => {
    const who = await signedIn(ctx);
    const t = tFor(ctx);
    const row = await store.backchannel.find(who.accountId, ctx.params.id ?? '');
    const provider = deps.provider();
    const client = row ? await provider.Client.find(row.client_id) : undefined;
    const name = client?.clientName ?? row?.client_id ?? '';
    if (row?.status !== 'pending' || new Date(row.expires_at).getTime() <= Date.now())
      return html(ctx, 404, cibaOutcomePage(t, 'gone', name));
    const user = await store.users.byId(who.accountId);
    const needsPasskey = (await wantsPhr(row)) && signInMethod(who.amr) !== 'passkey';
    html(
      ctx,
      200,
      decisionPage(t, {
        action: `/account/requests/${row.id}`,
        csrf: csrfToken(deps.secrets(), 'ciba', who.sessionUid, row.id),
        client: { name, uri: client?.clientUri, selfRegistered: client?.metadata().handoff_registered === true },
        scopes: row.scope.split(' ').filter(Boolean),
        bindingMessage: row.binding_message,
        requester: { ip: row.requester_ip, ua: row.requester_ua, at: row.created_at },
        account: { name: user?.name ?? null, username: user?.username ?? '' },
        needsPasskey: needsPasskey ? freshSignInUrl('/account/devices') : undefined,
      }),
    );
  });

  router.post('/account/requests/:id', async (ctx) => {
    const who = await signedIn(ctx);
    const id = ctx.params.id ?? '';
    const form = await readForm(ctx, deps.config.bodyLimitBytes);
    checkCsrf(deps.secrets(), form.csrf, ['ciba', who.sessionUid, id], 'error.formReload');
    const t = tFor(ctx);
    const decision = form.decision;
    if (decision !== 'approve' && decision !== 'deny' && decision !== 'report')
      throw new HttpError(400, 'invalid_request', 'decision must be approve, deny or report');
    const found = await store.backchannel.find(who.accountId, id);
    const provider = deps.provider();
    const name = (found ? (await provider.Client.find(found.client_id))?.clientName : undefined) ?? found?.client_id ?? '';
    // The rule of a phishing-resistant app is checked before anything is decided, where Approve is recorded.
    if (decision === 'approve' && found && (await wantsPhr(found)) && signInMethod(who.amr) !== 'passkey')
      throw new HttpError(403, 'access_denied', 'this app accepts only a sign-in with a passkey', { key: 'ciba.needsPasskey' });
    const status = decision === 'approve' ? 'approved' : decision === 'deny' ? 'denied' : 'reported';
    const row = await store.backchannel.decide(who.accountId, id, status);
    if (!row) return html(ctx, 404, cibaOutcomePage(t, 'gone', name));
    const requestId = unseal(deps.secrets(), 'backchannel', row.sealed_id, 400);
    const settle = async (result: Parameters<Provider['backchannelResult']>[1], opts?: Parameters<Provider['backchannelResult']>[2]) => {
      try {
        // Only an emergency cookie-key rotation (every old key dropped) leaves a request it cannot be opened for.
        if (!requestId) throw new Error('the request id could not be unsealed');
        await provider.backchannelResult(requestId, result, opts);
      } catch (err) {
        // Saved before the ping: a client whose notification endpoint fails still gets its answer by polling.
        deps.log.warn('backchannel ping failed', { client: row.client_id, err });
      }
    };
    if (status === 'approved') {
      const grant = new provider.Grant({ accountId: who.accountId, clientId: row.client_id });
      if (row.scope) grant.addOIDCScope(row.scope);
      const grantId = await grant.save();
      await store.approvals.record(
        {
          id: randomBytes(16).toString('base64url'),
          kind: 'ciba',
          accountId: who.accountId,
          clientId: row.client_id,
          grantId,
          deviceIp: row.requester_ip,
          deviceUa: row.requester_ua,
          requestedAt: new Date(row.created_at),
        },
        { action: 'ciba.approved', actorIp: ctx.ip, detail: { binding_message: row.binding_message } },
      );
      const { acr, amr } = crossDevice(who.amr);
      await settle(grant, { acr, amr, authTime: who.loginTs });
    } else {
      await settle(new errors.AccessDenied('the user declined the request'));
      if (status === 'reported') {
        await deps.report({
          kind: 'ciba',
          clientId: row.client_id,
          accountId: who.accountId,
          deviceIp: row.requester_ip,
          deviceUa: row.requester_ua,
          phoneIp: ctx.ip,
          sameNetwork: sameNetwork(row.requester_ip, ctx.ip),
        });
      } else {
        await store.audit.insert({
          action: 'ciba.denied',
          accountId: who.accountId,
          clientId: row.client_id,
          deviceIp: row.requester_ip,
          deviceUa: row.requester_ua,
          actorIp: ctx.ip,
        });
      }
    }
    deps.onOutcome?.('ciba', status === 'approved' ? 'approved' : 'denied');
    await deps.bus.publish(row.request_key);
    await deps.bus.publish(accountKey(who.accountId));
    const user = await store.users.byId(who.accountId);
    const label = user ? accountLabel({ name: user.name, username: user.username }) : '';
    html(ctx, 200, cibaOutcomePage(t, status, name, user ? { label, line: t('account.as', { account: label }) } : undefined));
  });

  return router;
}
