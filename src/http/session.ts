import type { Context } from 'koa';
import type Provider from 'oidc-provider';

/**
 * This browser's oidc-provider session, read from its signed session cookie (the account pages, the phone side of
 * scan-to-sign-in and the code-entry guard all need it outside oidc-provider's own routes).
 */
export async function findSession(ctx: Pick<Context, 'cookies'>, provider: Provider) {
  const id = ctx.cookies.get(provider.cookieName('session'), { signed: true });
  const session = id ? await provider.Session.find(id) : undefined;
  return session && id ? { session, id } : undefined;
}

export interface SignedIn {
  accountId: string;
  sessionUid: string;
  sessionId: string;
  /** When the user signed in, seconds since the epoch (`auth_time`). */
  loginTs: number;
  /** How (RFC 8176 `amr`). */
  amr: string[];
}

/** The signed-in user of this browser, with how and when they signed in. */
export async function signedInUser(ctx: Pick<Context, 'cookies'>, provider: Provider): Promise<SignedIn | undefined> {
  const found = await findSession(ctx, provider);
  const s = found?.session;
  if (!found || !s?.accountId) return undefined;
  return {
    accountId: s.accountId,
    sessionUid: s.uid,
    sessionId: found.id,
    loginTs: typeof s.loginTs === 'number' ? s.loginTs : Math.floor(Date.now() / 1000),
    amr: Array.isArray(s.amr) ? s.amr.filter((v): v is string => typeof v === 'string') : [],
  };
}
