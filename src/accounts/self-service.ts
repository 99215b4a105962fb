import { randomBytes } from 'node:crypto';
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type { Config } from '../config/schema.js';
import { addressKey } from '../http/address.js';
import { readForm } from '../http/body.js';
import { checkCsrf, checkSameOrigin } from '../http/csrf.js';
import { HttpError, TooManyRequests } from '../http/errors.js';
import { type Limit, take } from '../http/limits.js';
import { signedInUser } from '../http/session.js';
import { audit } from '../ops/audit.js';
import { sha256 } from '../store/hash.js';
import type { Store } from '../store/index.js';
import { tFor } from '../views/context.js';
import type { Translator } from '../views/i18n.js';
import { forgotPage, linkPage, mailText } from '../views/self-service.js';
import { messagePage } from '../views/sign-in.js';
import type { Mailer } from './mail.js';
import { hashPassword } from './password.js';

/**
 * Self-service recovery and address confirmation: the mailed links and the pages they open.
 *
 * - **Confirming an address.** A new account's address (sign-up) counts for nothing (no recovery, no linking by
 *   verified email) until the link mailed to it is used. An address another account has already confirmed gets a
 *   different mail instead ("you already have an account"): the sign-up page never tells whether an address is known.
 * - **"Forgot password".** Anyone may ask for a link for a username or an address; the answer is the same page whether
 *   or not an account matches, given after the same statements (the look-up runs after the answer, in the mail queue).
 *   A link is sent only to a confirmed address, works once, for `accounts.linkSeconds` (an hour at most); using it
 *   sets the password, ends every session of the account and revokes every grant with its tokens
 *   (store/account-tokens.ts, one transaction). Confirming an address takes a browser signed in to the account.
 * - **Limits no one can turn against the owner.** Requests per address (`accounts.resetsPerAddress` per window) keep
 *   one network from flooding; mails per account (`accounts.mailsPerAccount` per window) keep an account's mailbox
 *   from being flooded, and confirmation mails per recipient address (as many) keep sign-ups naming someone else's
 *   address from flooding theirs (reset links never count there). The account's window equals a link's lifetime and a new link never voids an older one, so
 *   while its budget is spent, the mails that spent it are still in the owner's mailbox, each link still working:
 *   whoever spends it, the owner can always reset.
 *
 * Links are `<ISSUER>/account/verify#<secret>` and `<ISSUER>/account/reset#<secret>` (views/self-service.ts says why
 * after `#`); 32 random bytes, stored as their SHA-256.
 */
export interface SelfServiceDeps {
  config: Config;
  store: Store;
  issuer: string;
  provider: () => Provider;
  secrets: () => string[];
  mailer: Mailer;
}

const SECRET = /^[\w-]{43}$/;
/** Where "Back to sign-in" may lead from "Forgot password": a sign-in page of this browser. */
const BACK = /^\/interaction\/[\w-]{1,64}$/;

const newSecret = () => randomBytes(32).toString('base64url');

export function selfService(deps: SelfServiceDeps) {
  const { config, store, mailer } = deps;
  const minutes = Math.round(config.accounts.linkSeconds / 60);
  const mailLimit = (accountId: string): Limit[] => [
    {
      bucket: 'mail:account',
      key: accountId,
      windowSeconds: config.accounts.linkSeconds,
      max: config.accounts.mailsPerAccount,
      refusal: { description: 'a link was sent to this address recently; use it, or wait' },
    },
  ];

  /** Confirmation mails one address receives per window, whichever accounts name it (a sign-up can name anyone's). */
  const recipientLimit = (email: string): Limit[] => [
    {
      bucket: 'mail:recipient',
      key: sha256(email.toLowerCase()),
      windowSeconds: config.accounts.linkSeconds,
      max: config.accounts.mailsPerAccount,
      refusal: { description: 'a link was sent to this address recently; use it, or wait' },
    },
  ];

  /**
   * Mails a confirmation link for an account's address (after a sign-up, or "send it again"). An address another
   * account has confirmed gets "you already have an account" instead. Throws {@link TooManyRequests} when the
   * account's mail budget is spent, or the address's (sign-up ignores that: the account is made either way). The
   * address's budget limits only these mails, never a reset link: a flood of sign-ups naming an address cannot keep
   * its owner from recovering their account.
   */
  async function sendConfirmation(t: Translator, user: { id: string; username: string; email: string | null }): Promise<void> {
    if (!mailer.delivers || !user.email) return;
    await take(store, [...mailLimit(user.id), ...recipientLimit(user.email)]);
    const email = user.email;
    const owner = await store.users.byVerifiedEmail(email);
    if (owner && owner.id !== user.id) {
      mailer.send({
        to: email,
        ...mailText(t, 'exists', { account: owner.username, email, link: `${deps.issuer}/account/forgot`, minutes }),
        link: '',
      });
      return;
    }
    const secret = newSecret();
    await store.accountTokens.issue({
      hash: sha256(secret),
      kind: 'verify_email',
      accountId: user.id,
      email,
      seconds: config.accounts.linkSeconds,
    });
    const link = `${deps.issuer}/account/verify#${secret}`;
    mailer.send({ to: email, ...mailText(t, 'verify', { account: user.username, email, link, minutes }), link });
  }

  const render = (ctx: Context, status: number, body: string) => {
    ctx.status = status;
    ctx.set('Cache-Control', 'no-store');
    ctx.type = 'html';
    ctx.body = body;
  };
  const recoveryOff = () => new HttpError(404, 'not_found', 'password reset by mail is not set up', { key: 'forgot.off' });

  const router = new Router();

  router.get('/account/forgot', (ctx) => {
    if (!mailer.delivers) throw recoveryOff();
    const back = typeof ctx.query.back === 'string' && BACK.test(ctx.query.back) ? ctx.query.back : undefined;
    render(ctx, 200, forgotPage(tFor(ctx), { action: '/account/forgot', back }));
  });
  router.post('/account/forgot', async (ctx) => {
    if (!mailer.delivers) throw recoveryOff();
    checkSameOrigin(ctx, deps.issuer);
    const form = await readForm(ctx, config.bodyLimitBytes);
    const t = tFor(ctx);
    const back = form.back && BACK.test(form.back) ? form.back : undefined;
    const identifier = (form.identifier ?? '').trim().slice(0, 254);
    await take(store, [
      {
        bucket: 'reset:address',
        key: addressKey(ctx.ip),
        windowSeconds: config.accounts.linkSeconds,
        max: config.accounts.resetsPerAddress,
        refusal: { description: 'too many reset requests from this address', key: 'forgot.throttled' },
      },
    ]);
    if (identifier) {
      // After the answer, in turn: whether an account matched is decided where no response time can show it.
      mailer.later(async () => {
        const secret = newSecret();
        const hash = sha256(secret);
        const target = await store.accountTokens.issueReset(hash, identifier, config.accounts.linkSeconds);
        if (!target) return undefined;
        const refused = await store.counters.take(mailLimit(target.account_id));
        if (refused) {
          await store.accountTokens.discard(hash);
          return undefined;
        }
        const user = await store.users.byId(target.account_id);
        const link = `${deps.issuer}/account/reset#${secret}`;
        return { to: target.email, ...mailText(t, 'reset', { account: user?.username ?? '', email: target.email, link, minutes }), link };
      });
    }
    render(
      ctx,
      200,
      messagePage({
        lang: t('lang.tag'),
        title: t('forgot.sent.title'),
        message: t('forgot.sent.body', { minutes }),
        status: 'success',
        next: [...(back ? [{ href: back, label: t('next.backToSignIn'), primary: true }] : []), { href: '/', label: t('next.home') }],
      }),
    );
  });

  // The pages a mailed link opens, and the forms they post.
  router.get('/account/reset', (ctx) => render(ctx, 200, linkPage(tFor(ctx), { kind: 'reset', action: '/account/reset' })));
  router.post('/account/reset', async (ctx) => {
    checkSameOrigin(ctx, deps.issuer);
    const form = await readForm(ctx, config.bodyLimitBytes);
    const t = tFor(ctx);
    const secret = form.token ?? '';
    const again = (status: number, error: string) =>
      render(
        ctx,
        status,
        linkPage(t, { kind: 'reset', action: '/account/reset', error, ...(SECRET.test(secret) ? { token: secret } : {}) }),
      );
    const hash = sha256(secret);
    // A link that cannot work is refused before the password is hashed (hashing is the costly part).
    if (!SECRET.test(secret) || !(await store.accountTokens.live(hash, 'reset_password'))) return goneLink(ctx, t, 'reset.gone');
    const password = form.password ?? '';
    if (password.length < 8 || password.length > 1024) return again(400, t('signup.badPassword'));
    if (password !== form.again) return again(400, t('reset.mismatch'));
    const done = await store.accountTokens.resetPassword(hash, await hashPassword(password, config.scrypt));
    if (!done) return goneLink(ctx, t, 'reset.gone');
    await audit(store, {
      action: 'account.password_reset',
      accountId: done.accountId,
      actorIp: ctx.ip,
      deviceUa: ctx.get('user-agent') || null,
      detail: { sessions_ended: done.ended, approvals_revoked: done.revoked },
    });
    // This browser's own session, if any, ended with the others: its cookie goes too.
    ctx.cookies.set(deps.provider().cookieName('session'), null, { signed: true, overwrite: true, path: '/' });
    const user = await store.users.byId(done.accountId);
    render(
      ctx,
      200,
      messagePage({
        lang: t('lang.tag'),
        title: t('reset.done.title'),
        message: t('reset.done.body', { account: user?.username ?? '' }),
        status: 'success',
        next: [
          { href: '/account/signin', label: t('next.signIn'), primary: true },
          { href: '/', label: t('next.home') },
        ],
      }),
    );
  });

  // Confirming an address takes a browser signed in to the account that asked: a person who opens a link that
  // someone else's sign-up sent them confirms nothing for that someone (no pre-made account takes their address).
  const verifyPage = async (ctx: Context, error?: string) => {
    const who = await signedInUser(ctx, deps.provider());
    const user = who ? await store.users.byId(who.accountId) : undefined;
    const t = tFor(ctx);
    return linkPage(t, {
      kind: 'verify',
      action: '/account/verify',
      ...(error ? { error } : {}),
      ...(user ? { account: user.username } : { signIn: `/account/signin?fresh=1&back=${encodeURIComponent('/account/verify')}` }),
    });
  };
  router.get('/account/verify', async (ctx) => render(ctx, 200, await verifyPage(ctx)));
  router.post('/account/verify', async (ctx) => {
    checkSameOrigin(ctx, deps.issuer);
    const form = await readForm(ctx, config.bodyLimitBytes);
    const t = tFor(ctx);
    const who = await signedInUser(ctx, deps.provider());
    if (!who) return render(ctx, 401, await verifyPage(ctx, t('verify.signIn')));
    const secret = form.token ?? '';
    const result = SECRET.test(secret)
      ? await store.accountTokens.verifyEmail(sha256(secret), who.accountId)
      : ({ status: 'gone' } as const);
    if (result.status !== 'verified')
      return goneLink(
        ctx,
        t,
        result.status === 'taken' ? 'verify.taken' : result.status === 'otherAccount' ? 'verify.otherAccount' : 'verify.gone',
      );
    await audit(store, { action: 'account.email_verified', accountId: result.accountId, actorIp: ctx.ip, detail: {} });
    const user = await store.users.byId(result.accountId);
    render(
      ctx,
      200,
      messagePage({
        lang: t('lang.tag'),
        title: t('verify.done.title'),
        message: t('verify.done.body', { email: result.email, account: user?.username ?? '' }),
        status: 'success',
        next: [
          { href: '/account/devices', label: t('next.account'), primary: true },
          { href: '/', label: t('next.home') },
        ],
      }),
    );
  });

  // "Send the confirmation link again", from the account page.
  router.post('/account/email/confirm', async (ctx) => {
    const who = await signedInUser(ctx, deps.provider());
    if (!who) throw new HttpError(401, 'login_required', 'Sign in again to manage your devices.', { key: 'error.accountSignIn' });
    const form = await readForm(ctx, config.bodyLimitBytes);
    checkCsrf(deps.secrets(), form.csrf, ['devices', who.sessionUid]);
    const user = await store.users.byId(who.accountId);
    if (user?.email && !user.email_verified) await sendConfirmation(tFor(ctx), user);
    ctx.status = 303;
    ctx.redirect('/account/devices?done=email-sent');
  });

  function goneLink(ctx: Context, t: Translator, key: 'reset.gone' | 'verify.gone' | 'verify.taken' | 'verify.otherAccount'): void {
    render(
      ctx,
      400,
      messagePage({
        lang: t('lang.tag'),
        title: t('common.error.title'),
        message: t(key),
        status: 'error',
        next: [
          ...(key === 'reset.gone' && mailer.delivers ? [{ href: '/account/forgot', label: t('next.forgot'), primary: true }] : []),
          { href: '/account/devices', label: t('next.account') },
        ],
      }),
    );
  }

  return { routes: router, sendConfirmation };
}

export type SelfService = ReturnType<typeof selfService>;
