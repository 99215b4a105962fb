import { randomUUID } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import { amrOf, passkeyCeremonies, relyingPartyOf } from '../accounts/passkeys.js';
import type { SelfService } from '../accounts/self-service.js';
import { parseSignup, signUp } from '../accounts/users.js';
import type { Config } from '../config/schema.js';
import { addressKey } from '../http/address.js';
import { readForm, readJsonObject } from '../http/body.js';
import { checkCsrf } from '../http/csrf.js';
import { HttpError } from '../http/errors.js';
import { giveBack, type Limit, take } from '../http/limits.js';
import { audit } from '../ops/audit.js';
import type { Store } from '../store/index.js';
import { tFor } from '../views/context.js';
import { signupPage } from '../views/self-service.js';
import { ACR_PASSWORD, ACR_PHISHING_RESISTANT, PHR_REQUIRED } from './acr.js';
import { csrfToken, type Details, loadInteraction } from './interactions.js';

/**
 * "Create an account" on a sign-in page (`accounts.signup`, off by default): username, email, and a password or a
 * passkey. The new account signs in at once and the sign-in goes on where it was (a device code, a desktop scan, a
 * relying party); its address is unconfirmed until the mailed link is used (accounts/self-service.ts), and counts
 * for nothing meanwhile. Accounts made per address are limited (`accounts.signupsPerAddress` an hour), and so are
 * attempts (six times as many: taken usernames, passkey options): a refusal hurts only new accounts from that
 * network, never a sign-in. Sign-up says when a username is taken (it must, to
 * let a person choose another), never whether an address is known.
 */
export interface SignupDeps {
  config: Config;
  store: Store;
  issuer: string;
  provider: () => Provider;
  secrets: () => string[];
  selfService: SelfService;
}

export function signupRoutes(deps: SignupDeps): Router {
  const { config, store } = deps;
  const router = new Router();
  const ceremonies = passkeyCeremonies(store, relyingPartyOf(deps.issuer));

  /** The sign-in this page belongs to, still at its login step and open to new accounts; or a readable 4xx. */
  const signupOf = async (ctx: Context): Promise<Details> => {
    if (!config.accounts.signup) throw new HttpError(404, 'not_found', 'sign-up is turned off', { key: 'signup.off' });
    const d = await loadInteraction(ctx, deps.provider());
    if (d.prompt.name !== 'login' || d.prompt.reasons.includes(PHR_REQUIRED))
      throw new HttpError(400, 'invalid_request', 'This step is not available now.', { key: 'error.step' });
    return d;
  };
  const perAddress = (ctx: Context): Limit[] => [
    {
      bucket: 'signup:address',
      key: addressKey(ctx.ip),
      windowSeconds: 3600,
      max: config.accounts.signupsPerAddress,
      refusal: { description: 'too many accounts created from this address', key: 'signup.throttled' },
    },
  ];
  /**
   * Every try counts here and is never given back (a taken username, a passkey's options, a failed passkey): it bounds
   * the password hashing and the username probing one address can cause, well above what a person needs.
   */
  const attempts = (ctx: Context): Limit[] => [
    {
      bucket: 'signup:attempt',
      key: addressKey(ctx.ip),
      windowSeconds: 3600,
      max: config.accounts.signupsPerAddress * 6,
      refusal: { description: 'too many sign-up attempts from this address', key: 'signup.throttled' },
    },
  ];
  const clientOf = async (d: Details) => {
    const id = typeof d.params.client_id === 'string' ? d.params.client_id : '';
    const client = id ? await deps.provider().Client.find(id) : undefined;
    return { name: client?.clientName ?? id, selfRegistered: client?.metadata().handoff_registered === true };
  };
  const page = async (ctx: Context, d: Details, extra: { username?: string; email?: string; error?: string } = {}) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    ctx.body = signupPage(tFor(ctx), {
      action: `/interaction/${d.uid}/signup`,
      csrf: csrfToken(deps.secrets(), d.uid),
      client: await clientOf(d),
      signIn: `/interaction/${d.uid}`,
      passkey: { options: `/interaction/${d.uid}/signup/passkey/options`, register: `/interaction/${d.uid}/signup/passkey` },
      ...extra,
    });
  };
  /** The new account is signed in, and the sign-in continues where it left off. */
  const signedUp = async (ctx: Context, accountId: string, email: string, how: { amr: string[]; acr: string; method: string }) => {
    const user = await store.users.byId(accountId);
    if (user) {
      // The account is made whatever the mail budget says; "send it again" is on the account page.
      await deps.selfService.sendConfirmation(tFor(ctx), user).catch(() => undefined);
    }
    const origin = { accountId, actorIp: ctx.ip, deviceUa: ctx.get('user-agent') || null };
    await audit(store, { action: 'account.signed_up', ...origin, detail: { method: how.method, email_domain: email.split('@')[1] ?? '' } });
    await audit(store, { action: 'account.signed_in', ...origin, detail: { method: how.method } });
    return deps
      .provider()
      .interactionResult(ctx.req, ctx.res, { login: { accountId, amr: how.amr, acr: how.acr } }, { mergeWithLastSubmission: false });
  };

  router.get('/interaction/:uid/signup', async (ctx) => {
    await page(ctx, await signupOf(ctx));
  });

  router.post('/interaction/:uid/signup', async (ctx) => {
    const d = await signupOf(ctx);
    const form = await readForm(ctx, config.bodyLimitBytes);
    checkCsrf(deps.secrets(), form.csrf, ['interaction', d.uid]);
    const t = tFor(ctx);
    const typed = { username: (form.username ?? '').trim().slice(0, 64), email: (form.email ?? '').trim().slice(0, 254) };
    const input = parseSignup(form, true);
    if (!input.ok) {
      ctx.status = 400;
      await page(ctx, d, { ...typed, error: t(input.key) });
      return;
    }
    await take(store, attempts(ctx));
    const limits = perAddress(ctx);
    const taken = async () => {
      ctx.status = 409;
      await page(ctx, d, { ...typed, error: t('signup.taken') });
    };
    // A taken username is answered before any password is hashed.
    if (await store.users.credentials(input.username.toLowerCase())) return taken();
    await take(store, limits);
    const user = await signUp(store, input, config.scrypt);
    if (!user) {
      await giveBack(store, limits);
      return taken();
    }
    const returnTo = await signedUp(ctx, user.id, input.email, { amr: ['pwd'], acr: ACR_PASSWORD, method: 'password' });
    ctx.status = 303;
    ctx.redirect(returnTo);
  });

  // With a passkey instead of a password: options for an account that does not exist yet (a fresh id, bound with the
  // username and address to this sign-in), then the new passkey; the account is made only once it is verified.
  const passkeyBody = async (ctx: Context, d: Details) => {
    const body = await readJsonObject(ctx, config.bodyLimitBytes);
    checkCsrf(deps.secrets(), typeof body.csrf === 'string' ? body.csrf : undefined, ['interaction', d.uid]);
    const input = parseSignup(body, false);
    if (!input.ok) throw new HttpError(400, 'invalid_request', 'check the username and email address', { key: input.key });
    ctx.set('Cache-Control', 'no-store');
    return { body, input, binding: `signup:${d.uid}:${input.username.toLowerCase()}:${input.email.toLowerCase()}` };
  };
  const taken = () => new HttpError(409, 'conflict', 'that username is taken', { key: 'signup.taken' });
  router.post('/interaction/:uid/signup/passkey/options', async (ctx) => {
    const d = await signupOf(ctx);
    const { input, binding } = await passkeyBody(ctx, d);
    // Options cost a row each: counted as attempts, before the username is looked up.
    await take(store, attempts(ctx));
    if (await store.users.credentials(input.username.toLowerCase())) throw taken();
    ctx.body = await ceremonies.registrationOptions({ id: randomUUID(), username: input.username, name: null }, binding);
  });
  router.post('/interaction/:uid/signup/passkey', async (ctx) => {
    const d = await signupOf(ctx);
    const { body, input, binding } = await passkeyBody(ctx, d);
    const id = typeof body.userId === 'string' ? Buffer.from(body.userId, 'base64url').toString('utf8') : '';
    if (!/^[0-9a-f-]{36}$/.test(id)) throw new HttpError(400, 'invalid_request', 'malformed passkey response', { key: 'error.passkey' });
    await take(store, attempts(ctx));
    const limits = perAddress(ctx);
    await take(store, limits);
    let made = false;
    let added: Awaited<ReturnType<typeof ceremonies.register>>;
    try {
      added = await ceremonies.register(id, binding, body, { ip: ctx.ip, ua: ctx.get('user-agent').slice(0, 512) || null }, async () => {
        if (!(await signUp(store, { id, ...input }, config.scrypt))) throw taken();
        made = true;
      });
    } catch (err) {
      if (made) await store.users.delete(id);
      await giveBack(store, limits);
      throw err;
    }
    const returnTo = await signedUp(ctx, id, input.email, {
      amr: amrOf(added.backedUp),
      acr: ACR_PHISHING_RESISTANT,
      method: 'passkey',
    });
    ctx.body = { redirect: returnTo };
  });

  return router;
}
