import { interactionPolicy, type KoaContextWithOIDC } from 'oidc-provider';
import { ACR_PHISHING_RESISTANT } from '../accounts/passkeys.js';

export { ACR_PHISHING_RESISTANT };

/**
 * Authentication context (`acr`), as relying parties read it from ID tokens:
 * - `phr` (OpenID Connect EAP ACR Values 1.0, "phishing-resistant"): this session signed in with a passkey;
 * - `0` (OpenID Connect Core 2): a password, which is not phishing-resistant.
 * `amr` (RFC 8176) says how: `pwd`, or `hwk`/`swk` with `user` for a passkey.
 */
export const ACR_PASSWORD = '0';
export const ACR_VALUES = [ACR_PHISHING_RESISTANT, ACR_PASSWORD];

/**
 * A cross-device approval (a device code, or a desktop scan approved on a phone) is never `phr`, whatever the phone
 * signed in with: a passkey makes the phone's own sign-in phishing-resistant, but the hop from the screen that asked
 * to the phone that approves is exactly what QR relaying and device-code phishing abuse (RFC 8628 5.4, RFC 10027).
 * Its `amr` is the phone's methods plus RFC 8176 `mca` (multiple-channel authentication: the person approved on
 * another device than the one signing in), so a relying party can tell it from a sign-in on the device itself; its
 * `acr` is `0`.
 */
export const AMR_CROSS_DEVICE = 'mca';

export function crossDevice(phoneAmr: readonly string[] | undefined): { acr: string; amr: string[] } {
  const amr = (phoneAmr ?? []).filter((v) => v !== AMR_CROSS_DEVICE);
  return { acr: ACR_PASSWORD, amr: [...amr, AMR_CROSS_DEVICE] };
}

/** The login prompt's reason when a phishing-resistant sign-in is asked for and this session has none. */
export const PHR_REQUIRED = 'phr_required';

/** Whether this request asks for `phr`: `acr_values=phr`, or the client's `default_acr_values`. */
export function wantsPhishingResistant(ctx: KoaContextWithOIDC): boolean {
  const oidc = ctx.oidc;
  const requested = String(oidc.params?.acr_values ?? '').split(' ');
  const defaults = (oidc.client?.defaultAcrValues ?? []) as string[];
  return requested.includes(ACR_PHISHING_RESISTANT) || defaults.includes(ACR_PHISHING_RESISTANT);
}

/**
 * oidc-provider's interaction policy, with one more check in the login prompt: a request for `phr` from a session
 * that signed in another way, or that asks for a fresh sign-in (`prompt=login`), asks the user to sign in again with
 * a passkey (a step-up). It applies to relying parties' sign-ins, to device codes (the phone approving a code
 * resumes through the same prompts) and to the fresh sign-in the account page asks before passkeys change.
 */
export function interactionPolicyWithPhr() {
  const policy = interactionPolicy.base();
  // A native client (`application_type: "native"`) gets a consent page on every sign-in (RFC 8252 8.6: its redirect
  // URI cannot prove who receives the code), except in the device flow: there the phone's confirmation page, which
  // names the app and the scopes, is the one decision, so a native TV or CLI approves in one step like any other.
  const consent = policy.get('consent');
  const native = consent?.checks.get('native_client_prompt');
  if (consent && native) {
    consent.checks.remove('native_client_prompt');
    consent.checks.add(
      new interactionPolicy.Check(native.reason, native.description, native.error ?? 'interaction_required', (ctx) =>
        ctx.oidc.route === 'code_verification' || ctx.oidc.route === 'device_resume'
          ? interactionPolicy.Check.NO_NEED_TO_PROMPT
          : native.check(ctx),
      ),
      0,
    );
  }
  const login = policy.get('login');
  login?.checks.add(
    new interactionPolicy.Check(PHR_REQUIRED, 'a phishing-resistant sign-in (a passkey) is required', (ctx) => {
      if (!wantsPhishingResistant(ctx)) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      // A fresh sign-in asked for (`prompt=login`) must itself be a passkey, until this interaction has one.
      const fresh = ctx.oidc.prompts.has('login') && !ctx.oidc.result?.login;
      return fresh || ctx.oidc.session?.acr !== ACR_PHISHING_RESISTANT
        ? interactionPolicy.Check.REQUEST_PROMPT
        : interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }),
  );
  return policy;
}
