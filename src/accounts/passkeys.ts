import type {
  AuthenticationResponseJSON,
  RegistrationResponseJSON,
  VerifiedAuthenticationResponse,
  VerifiedRegistrationResponse,
} from '@simplewebauthn/server';
import { HttpError } from '../http/errors.js';
import type { Store } from '../store/index.js';

/**
 * Passkeys (WebAuthn Level 3) with @simplewebauthn/server: registration on the account page and sign-in on every
 * sign-in page. The relying party id and the origin come from ISSUER; credentials are discoverable (resident keys)
 * and user verification is required, so a passkey alone is a phishing-resistant sign-in (`acr` `phr`).
 *
 * Challenges are 32 random bytes, stored server-side by hash for one purpose and bound to the browser context that
 * asked (the session for registration, the interaction for sign-in), live {@link CHALLENGE_SECONDS} and are taken
 * once. Sign counters that go backwards are refused (a zero counter, kept by authenticators without one, is fine);
 * a removed passkey stops working at once, since every sign-in reads its row.
 */
export const CHALLENGE_SECONDS = 300;

/**
 * The WebAuthn library, loaded at the first ceremony: it is a fifth of the time Node spends loading Handoff's modules
 * at start-up (about 0.25 s here), and most starts never see a passkey before they are warm.
 */
let library: Promise<typeof import('@simplewebauthn/server')> | undefined;
const webauthn = () => {
  library ??= import('@simplewebauthn/server');
  return library;
};

export interface RelyingParty {
  id: string;
  origin: string;
  name: string;
}

export function relyingPartyOf(issuer: string): RelyingParty {
  const url = new URL(issuer);
  return { id: url.hostname, origin: url.origin, name: 'Handoff' };
}

/** OpenID Connect EAP ACR Values `phr` (phishing-resistant): a sign-in with a passkey (oidc/acr.ts says what it means). */
export const ACR_PHISHING_RESISTANT = 'phr';

/** RFC 8176: a device-bound passkey is a hardware key, a synced one a software key; either verified the user. */
export function amrOf(backedUp: boolean): string[] {
  return [backedUp ? 'swk' : 'hwk', 'user'];
}

const bad = (description: string, key: 'error.passkey' | 'error.passkeyUnknown' | 'error.passkeyExpired' = 'error.passkey') =>
  new HttpError(400, 'invalid_request', description, { key });

/** The challenge a response answers, read from its clientDataJSON (checked again, cryptographically, by the library). */
function challengeOf(response: unknown): string {
  const client = (response as { response?: { clientDataJSON?: unknown } } | undefined)?.response?.clientDataJSON;
  if (typeof client !== 'string' || client.length > 4096) throw bad('malformed passkey response');
  try {
    const parsed = JSON.parse(Buffer.from(client, 'base64url').toString('utf8')) as { challenge?: unknown };
    if (typeof parsed.challenge !== 'string' || parsed.challenge.length > 200) throw new Error('no challenge');
    return parsed.challenge;
  } catch {
    throw bad('malformed passkey response');
  }
}

function responseObject(body: Record<string, unknown>): Record<string, unknown> {
  const r = body.response;
  if (typeof r !== 'object' || r === null || Array.isArray(r)) throw bad('malformed passkey response');
  return r as Record<string, unknown>;
}

export function passkeyCeremonies(store: Store, rp: RelyingParty) {
  return {
    /** Options for a new passkey; `platform`: one on this device (the offer after a sign-in with a phone's passkey). */
    async registrationOptions(
      user: { id: string; username: string; name: string | null },
      binding: string,
      opts: { platform?: boolean } = {},
    ) {
      const existing = await store.passkeys.list(user.id);
      const options = await (await webauthn()).generateRegistrationOptions({
        rpName: rp.name,
        rpID: rp.id,
        userName: user.username,
        userDisplayName: user.name ?? user.username,
        userID: new TextEncoder().encode(user.id),
        attestationType: 'none',
        excludeCredentials: existing.map((p) => ({ id: p.id, transports: p.transports })),
        authenticatorSelection: {
          residentKey: 'required',
          userVerification: 'required',
          ...(opts.platform ? { authenticatorAttachment: 'platform' as const } : {}),
        },
        timeout: CHALLENGE_SECONDS * 1000,
      });
      await store.passkeys.issueChallenge(options.challenge, 'register', binding, user.id, CHALLENGE_SECONDS);
      return options;
    },

    /** Verifies and stores a new passkey, with where it was added from (`origin`: the browser's address and agent). */
    async register(
      accountId: string,
      binding: string,
      body: Record<string, unknown>,
      origin: { ip: string; ua: string | null },
      /** Runs once the passkey is verified, before it is stored (sign-up makes the account there). */
      beforeStore?: () => Promise<void>,
    ): Promise<{ id: string; name: string; backedUp: boolean }> {
      const response = responseObject(body);
      const challenge = challengeOf(response);
      if (!(await store.passkeys.takeChallenge(challenge, 'register', binding, accountId)))
        throw bad('this passkey request has expired; try again', 'error.passkeyExpired');
      let verified: VerifiedRegistrationResponse;
      try {
        verified = await (await webauthn()).verifyRegistrationResponse({
          response: response as unknown as RegistrationResponseJSON,
          expectedChallenge: challenge,
          expectedOrigin: rp.origin,
          expectedRPID: rp.id,
          requireUserVerification: true,
        });
      } catch {
        throw bad('the passkey could not be verified');
      }
      if (!verified.verified) throw bad('the passkey could not be verified');
      const info = verified.registrationInfo;
      const name = typeof body.name === 'string' && body.name.trim() ? body.name.trim().slice(0, 64) : 'Passkey';
      await beforeStore?.();
      const inserted = await store.passkeys.insert({
        id: info.credential.id,
        accountId,
        publicKey: info.credential.publicKey,
        counter: info.credential.counter,
        transports: (info.credential.transports ?? []).map(String),
        backedUp: info.credentialBackedUp,
        name: name.replace(/[\u0000-\u001f\u007f]/g, ''),
        createdIp: origin.ip,
        createdUa: origin.ua,
      });
      if (!inserted) throw new HttpError(409, 'conflict', 'this passkey is already registered');
      return { id: info.credential.id, name, backedUp: info.credentialBackedUp };
    },

    async authenticationOptions(binding: string) {
      const options = await (await webauthn()).generateAuthenticationOptions({
        rpID: rp.id,
        userVerification: 'required',
        timeout: CHALLENGE_SECONDS * 1000,
      });
      await store.passkeys.issueChallenge(options.challenge, 'authenticate', binding, null, CHALLENGE_SECONDS);
      return options;
    },

    /** Verifies a sign-in; the account and how it signed in, or a 400 that changed nothing but the used challenge. */
    async authenticate(binding: string, body: Record<string, unknown>): Promise<{ accountId: string; amr: string[] }> {
      const response = responseObject(body);
      const challenge = challengeOf(response);
      const id = typeof response.id === 'string' ? response.id : '';
      if (!(await store.passkeys.takeChallenge(challenge, 'authenticate', binding, null)))
        throw bad('this passkey request has expired; try again', 'error.passkeyExpired');
      const passkey = id ? await store.passkeys.find(id) : undefined;
      if (!passkey) throw bad('this passkey is not registered here', 'error.passkeyUnknown');
      let verified: VerifiedAuthenticationResponse;
      try {
        verified = await (await webauthn()).verifyAuthenticationResponse({
          response: response as unknown as AuthenticationResponseJSON,
          expectedChallenge: challenge,
          expectedOrigin: rp.origin,
          expectedRPID: rp.id,
          credential: { id: passkey.id, publicKey: new Uint8Array(passkey.public_key), counter: passkey.counter, transports: [] },
          requireUserVerification: true,
        });
      } catch {
        throw bad('the passkey could not be verified');
      }
      const userHandle = (response.response as { userHandle?: unknown } | undefined)?.userHandle;
      if (typeof userHandle === 'string' && Buffer.from(userHandle, 'base64url').toString('utf8') !== passkey.account_id) {
        throw bad('the passkey could not be verified');
      }
      if (!verified.verified || !(await store.passkeys.used(passkey.id, verified.authenticationInfo.newCounter))) {
        throw bad('the passkey could not be verified');
      }
      return { accountId: passkey.account_id, amr: amrOf(passkey.backed_up) };
    },
  };
}

export type PasskeyCeremonies = ReturnType<typeof passkeyCeremonies>;

/**
 * Whether a session's `amr` shows a passkey (phishing-resistant) sign-in to Handoff. A federated sign-in (`fed`)
 * never does, whatever methods the upstream asserted after it: those are the upstream's words, not a Handoff passkey.
 */
export const signedInWithPasskey = (amr: readonly string[] | undefined) =>
  !!amr && !amr.includes('fed') && (amr.includes('hwk') || amr.includes('swk'));

/** How a session signed in, in the words of the pages: a passkey, a password, or an upstream provider (`fed`). */
export const signInMethod = (amr: readonly string[] | undefined): 'passkey' | 'password' | 'upstream' =>
  amr?.includes('fed') ? 'upstream' : signedInWithPasskey(amr) ? 'passkey' : 'password';
