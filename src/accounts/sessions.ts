import type { Context } from 'koa';
import type { Config } from '../config/schema.js';
import type { SignedIn } from '../http/session.js';
import type { Store } from '../store/index.js';
import { signedInWithPasskey, signInMethod } from './passkeys.js';

/**
 * An account's signed-in browsers, as the account page lists them (store/sessions.ts): a sign-in that completes is
 * described (which browser, from where, how), and a session in use is marked used, at most once a minute per
 * session and instance (so a phone's requests cost no extra statement each).
 */
export const methodOf = signInMethod;

/** What oidc-provider tells of a request it answered (oidc/seams.ts `oidcOf`), as far as sessions need it. */
export interface Answered {
  route?: string | undefined;
  session?: { uid: string; accountId?: string | undefined } | undefined;
  result?: { login?: unknown; handoff?: { scan?: unknown } | undefined } | undefined;
}

export function sessionNotes(store: Store): {
  afterProvider: (ctx: Context, oidc: Answered | undefined) => Promise<void>;
  used: (uid: string) => Promise<void>;
} {
  const touched = new Map<string, number>();
  const used = async (uid: string) => {
    const now = Date.now();
    if ((touched.get(uid) ?? 0) > now - 60_000) return;
    if (touched.size > 10_000) touched.clear();
    touched.set(uid, now);
    await store.sessions.touch(uid);
  };
  return {
    used,
    /** After oidc-provider answered a request: a sign-in it just completed is recorded, a session it used is touched. */
    async afterProvider(ctx, oidc) {
      const session = oidc?.session;
      if (!session?.accountId || (session as { destroyed?: boolean }).destroyed) return;
      const login = oidc?.result?.login as { accountId?: string; amr?: string[] } | undefined;
      if ((oidc?.route === 'resume' || oidc?.route === 'device_resume') && login?.accountId && oidc.result?.handoff?.scan === undefined) {
        await store.sessions.record({
          uid: session.uid,
          accountId: session.accountId,
          ip: ctx.ip,
          ua: ctx.get('user-agent').slice(0, 512) || null,
          method: methodOf(login.amr),
        });
        touched.set(session.uid, Date.now());
        return;
      }
      await used(session.uid);
    },
  };
}

/**
 * Changing how one signs in (adding or removing a passkey) needs a fresh sign-in, minutes old; when the account
 * already has a passkey, that sign-in must be a passkey, so a phished password or a stolen session cannot turn itself
 * into lasting phishing-resistant access.
 */
export function freshEnough(config: Config, who: SignedIn, hasPasskey: boolean, now = Date.now() / 1000): boolean {
  if (now - who.loginTs > config.accounts.freshSignInSeconds) return false;
  return !hasPasskey || signedInWithPasskey(who.amr);
}

/** The page that asks for that fresh sign-in, returning to `back` (a path the account pages allow). */
export function freshSignInUrl(back: string): string {
  return `/account/signin?${new URLSearchParams({ fresh: '1', back }).toString()}`;
}

export type SessionNotes = ReturnType<typeof sessionNotes>;
