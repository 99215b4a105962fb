import type { Context } from 'koa';
import type { Config } from '../config/schema.js';
import { addressKey } from '../http/address.js';
import { mac, verifyMac } from '../http/secrets.js';
import { randomBytes } from 'node:crypto';
import type { Limit } from '../http/limits.js';
import { sha256 } from '../store/hash.js';

/**
 * Failed passwords slow the attacker, not the owner.
 *
 * A browser that has signed in to an account before carries a *known-browser* cookie for it (a random browser id
 * and an HMAC binding it to the account). Its attempts count only against that browser, so nothing another
 * browser does can lock it out. Every other attempt counts, in this order, against
 *
 * 1. its address (IPv4 address or IPv6 /64), all accounts together;
 * 2. the pair (account, address): one address can spend five guesses on an account and then only stops itself;
 * 3. the account across all addresses: an attack spread over many addresses fills this one, and from then on only
 *    browsers that signed in to the account before can try passwords for it until the window ends.
 *
 * A request refused by one counter spends nothing of the next (http/limits.ts), so a flood from one address never
 * reaches the account's budget, and an unknown username never creates a row once the address is spent.
 */
export type LoginSettings = Config['login'];

export const KNOWN_BROWSER_COOKIE = 'handoff_known';
const MAX_ACCOUNTS_PER_BROWSER = 5;

/**
 * The one form a username is counted and looked up in, in JavaScript and SQL alike: NFKC, trimmed, ASCII lower
 * case. Usernames are ASCII by construction (accounts/users.ts), so anything still outside printable ASCII after
 * NFKC names no account and is refused before it is counted or sent to the database.
 */
export function canonicalUsername(input: string): string | undefined {
  const s = input.normalize('NFKC').trim();
  if (!/^[\x21-\x7e]{1,128}$/.test(s)) return undefined;
  return s.toLowerCase();
}

interface KnownBrowser {
  id: string;
  macs: string[];
}

function readKnown(ctx: Pick<Context, 'cookies'>): KnownBrowser | undefined {
  const raw = ctx.cookies.get(KNOWN_BROWSER_COOKIE);
  if (!raw || raw.length > 600) return undefined;
  const [id, ...macs] = raw.split('.');
  if (!id || !/^[\w-]{22}$/.test(id) || macs.some((m) => !/^[\w-]{43}$/.test(m))) return undefined;
  return { id, macs: macs.slice(0, MAX_ACCOUNTS_PER_BROWSER) };
}

/** The id of this browser when it signed in to `accountId` before (its cookie carries a valid HMAC for it). */
export function knownBrowserFor(ctx: Pick<Context, 'cookies'>, roots: string[], accountId: string | undefined): string | undefined {
  const known = readKnown(ctx);
  if (!known || !accountId) return undefined;
  const message = `${known.id}:${accountId}`;
  return known.macs.some((m) => verifyMac(roots, 'known-browser', message, m)) ? known.id : undefined;
}

/** Remembers, after a correct password, that this browser signed in to `accountId` (the newest five accounts). */
export function rememberBrowser(ctx: Context, roots: string[], accountId: string, settings: LoginSettings, secure: boolean): void {
  const known = readKnown(ctx);
  const id = known?.id ?? randomBytes(16).toString('base64url');
  const fresh = mac(roots, 'known-browser', `${id}:${accountId}`);
  const macs = [fresh, ...(known?.macs ?? []).filter((m) => m !== fresh)].slice(0, MAX_ACCOUNTS_PER_BROWSER);
  ctx.cookies.set(KNOWN_BROWSER_COOKIE, [id, ...macs].join('.'), {
    httpOnly: true,
    sameSite: 'lax',
    secure,
    signed: false,
    overwrite: true,
    maxAge: settings.knownBrowserDays * 86_400_000,
  });
}

/** The counters one sign-in attempt takes, in the order above. */
export function signInCounters(
  s: LoginSettings,
  attempt: { username: string | undefined; ip: string; knownBrowser: string | undefined },
): Limit[] {
  const windowSeconds = s.windowSeconds;
  const refusal = { description: 'too many failed sign-in attempts', key: 'login.throttled' as const };
  if (attempt.username && attempt.knownBrowser) {
    return [
      {
        bucket: 'login:browser',
        key: sha256(`${attempt.knownBrowser}:${attempt.username}`),
        windowSeconds,
        max: s.maxFailuresPerKnownBrowser,
      },
    ];
  }
  const address = addressKey(attempt.ip);
  const out: Limit[] = [{ bucket: 'login:address', key: address, windowSeconds, max: s.maxFailuresPerAddress, refusal }];
  if (attempt.username) {
    out.push(
      {
        bucket: 'login:pair',
        key: sha256(`${attempt.username}|${address}`),
        windowSeconds,
        max: s.maxFailuresPerAccountAndAddress,
        refusal,
      },
      { bucket: 'login:account', key: sha256(attempt.username), windowSeconds, max: s.maxFailuresPerAccount, refusal },
    );
  }
  return out;
}
