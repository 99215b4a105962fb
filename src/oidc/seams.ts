import type { Context, Middleware } from 'koa';
import type Koa from 'koa';
import mount from 'koa-mount';
import type Provider from 'oidc-provider';
import { type AdapterPayload, type DeviceCode, errors, type KoaContextWithOIDC } from 'oidc-provider';
import { handler as cibaHandler, parameters as cibaParameters } from 'oidc-provider/lib/actions/grants/ciba.js';
import { handler as deviceCodeHandler, parameters as deviceCodeParameters } from 'oidc-provider/lib/actions/grants/device_code.js';
import * as grantHelpers from 'oidc-provider/lib/helpers/grants.js';
import { AlreadyUsedError } from 'oidc-provider/lib/helpers/re_render_errors.js';

/**
 * The one module allowed to touch oidc-provider's internals and runtime shape. Everything else goes through these
 * functions, so an upgrade of the library is checked here (and by the tests) rather than everywhere.
 */

/** oidc-provider's per-request context, when this request went through the provider's router. */
export function oidcOf(ctx: Context): KoaContextWithOIDC['oidc'] | undefined {
  // The provider defines `ctx.oidc` (a getter) on the Koa context of the requests it routes.
  return Object.getOwnPropertyDescriptor(ctx, 'oidc') ? (ctx as unknown as KoaContextWithOIDC).oidc : undefined;
}

/** The device flow's form secret, which oidc-provider keeps in the browser session (`session.state.secret`). */
export function xsrfOf(ctx: KoaContextWithOIDC): string {
  const state: unknown = ctx.oidc.session?.state;
  const secret = typeof state === 'object' && state !== null ? (state as { secret?: unknown }).secret : undefined;
  return typeof secret === 'string' ? secret : '';
}

/**
 * The device code of a row the store found by its user code (store/device-codes.ts `guess`), as the library's own
 * `DeviceCode.findByUserCode` would have built it from the adapter (oidc/adapter.ts `foundByUserCode`): its
 * constructor, given the stored payload.
 */
export function deviceCodeOf(provider: Provider, payload: AdapterPayload | undefined): DeviceCode | undefined {
  // The typing asks for the client object a new code is minted with; a stored code carries its `clientId`.
  return payload && new provider.DeviceCode(payload as unknown as ConstructorParameters<typeof provider.DeviceCode>[0]);
}

/**
 * The error oidc-provider's device flow raises for a code that is decided or being decided: its pages render it as
 * "already used" and its error handler saves nothing more on the code. The adapter raises it for a decision step that
 * lost the race to another (store/oidc.ts `decide`).
 */
export const codeAlreadyUsed = (): Error => new AlreadyUsedError();

/** Route names of oidc-provider that Handoff refers to. */
export const ROUTES = { verification: 'code_verification', deviceResume: 'device_resume' } as const;

/** Mounts a provider on the public Koa app (oidc-provider is a Koa app; koa-mount's typing does not say so). */
export function mountProvider(provider: Provider): Middleware {
  return mount(provider as unknown as Koa);
}

/**
 * Puts the device flow in front of oidc-provider's own device_code grant (`registerGrantType`, as Logto overrides
 * grants): `decide` runs after oidc-provider authenticated the client, and calls `issue` (the library's handler,
 * with its helpers bound as the library binds them) once the code is decided.
 *
 * `issue({ replay: false })` is for a code the flow found unredeemed: if another request redeems it between that
 * read and the library's own, the library would take this request for a replay and revoke the winner's tokens.
 * So its "already consumed" step (`consumeGrantSource`) then refuses with `invalid_grant` and revokes nothing.
 * `claims` says what the tokens assert of the sign-in, from what the phone's session asserted (oidc/acr.ts).
 */
type Helper = (p: Provider, ...a: unknown[]) => unknown;
export type Issue = (opts: { replay: boolean }) => Promise<void>;

export function overrideDeviceGrant(
  provider: Provider,
  decide: (ctx: KoaContextWithOIDC, issue: Issue) => Promise<void>,
  claims: (phone: { acr?: string | undefined; amr?: string[] | undefined }) => { acr: string; amr: string[] },
): void {
  const helpers = Object.fromEntries(
    Object.entries(grantHelpers).map(([name, helper]) => [name, (helper as Helper).bind(undefined, provider)]),
  );
  // What a device code's tokens say of how the user signed in (`acr`, `amr`) is decided here, as the library loads the
  // code to issue them: the ID token, and refresh tokens (which carry them on), take it from the loaded code.
  const find = helpers.findGrantSource as (...a: unknown[]) => Promise<{ acr?: string; amr?: string[] } | undefined>;
  const bound = {
    ...helpers,
    findGrantSource: async (...a: unknown[]) => {
      const code = await find(...a);
      if (code) Object.assign(code, claims(code));
      return code;
    },
  };
  const consume = (_ctx: unknown, source: { consumed?: unknown; consume(): Promise<void> }) => {
    if (source.consumed) throw new errors.InvalidGrant('device code already consumed');
    return source.consume();
  };
  const raceSafe = { ...bound, consumeGrantSource: consume };
  provider.registerGrantType(
    'urn:ietf:params:oauth:grant-type:device_code',
    (ctx: KoaContextWithOIDC) => decide(ctx, ({ replay }) => deviceCodeHandler(provider, replay ? bound : raceSafe, ctx)),
    deviceCodeParameters,
  );
}

/**
 * Puts Handoff's rules (pacing, held requests) in front of oidc-provider's own CIBA grant, as for the device grant:
 * `decide` runs after the library authenticated the client and calls `issue`, the library's handler with its helpers
 * bound as the library binds them.
 */
export function overrideCibaGrant(
  provider: Provider,
  decide: (ctx: KoaContextWithOIDC, issue: () => Promise<void>) => Promise<void>,
): void {
  const helpers = Object.fromEntries(
    Object.entries(grantHelpers).map(([name, helper]) => [name, (helper as Helper).bind(undefined, provider)]),
  );
  provider.registerGrantType(
    'urn:openid:params:grant-type:ciba',
    (ctx: KoaContextWithOIDC) => decide(ctx, () => cibaHandler(provider, helpers, ctx)),
    cibaParameters,
  );
}
