import { Readable } from 'node:stream';
import type { Context, Middleware } from 'koa';
import type Koa from 'koa';
import mount from 'koa-mount';
import type Provider from 'oidc-provider';
import { type DeviceCode, errors, type KoaContextWithOIDC } from 'oidc-provider';
import { handler as deviceCodeHandler, parameters as deviceCodeParameters } from 'oidc-provider/lib/actions/grants/device_code.js';
import * as grantHelpers from 'oidc-provider/lib/helpers/grants.js';
import type { OidcRow } from '../store/oidc.js';
import { foundByUserCode } from './adapter.js';

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
 * `DeviceCode.findByUserCode` would have built it from the adapter: its constructor, given the stored payload.
 */
export function deviceCodeOf(provider: Provider, row: OidcRow | undefined, userCode: string): DeviceCode | undefined {
  const payload = foundByUserCode(row, userCode);
  // The typing asks for the client object a new code is minted with; a stored code carries its `clientId`.
  return payload && new provider.DeviceCode(payload as unknown as ConstructorParameters<typeof provider.DeviceCode>[0]);
}

/** Route names of oidc-provider that Handoff refers to. */
export const ROUTES = { verification: 'code_verification', deviceResume: 'device_resume' } as const;

/** Mounts a provider on the public Koa app (oidc-provider is a Koa app; koa-mount's typing does not say so). */
export function mountProvider(provider: Provider): Middleware {
  return mount(provider as unknown as Koa);
}

/**
 * Hands a request whose form body Handoff has already read (the device token endpoint reads it to answer polls
 * itself) on to oidc-provider, which reads the body from `ctx.req` again: on this request object only, the four
 * members a body reader uses (`readable`, `readableEncoding`, `iterator` and async iteration) are shadowed by those
 * of a stream that yields the same bytes. (Shadowing four members costs nothing per later access; a Proxy around
 * the request would run on every one of the dozens of header and socket reads that follow.)
 */
export function replayBody(ctx: Context, raw: Buffer): void {
  const replay = Readable.from([raw]);
  Object.defineProperties(ctx.req, {
    readable: { configurable: true, get: () => replay.readable },
    readableEncoding: { configurable: true, get: () => replay.readableEncoding },
    iterator: { configurable: true, value: replay.iterator.bind(replay) },
    [Symbol.asyncIterator]: { configurable: true, value: replay[Symbol.asyncIterator].bind(replay) },
  });
}

/**
 * Puts the device flow in front of oidc-provider's own device_code grant (`registerGrantType`, as Logto overrides
 * grants): `decide` runs after oidc-provider authenticated the client, and calls `issue` (the library's handler,
 * with its helpers bound as the library binds them) once the code is decided.
 *
 * `issue({ replay: false })` is for a code the flow found unredeemed: if another request redeems it between that
 * read and the library's own, the library would take this request for a replay and revoke the winner's tokens.
 * So its "already consumed" step (`consumeGrantSource`) then refuses with `invalid_grant` and revokes nothing.
 */
type Helper = (p: Provider, ...a: unknown[]) => unknown;
export type Issue = (opts: { replay: boolean }) => Promise<void>;

export function overrideDeviceGrant(provider: Provider, decide: (ctx: KoaContextWithOIDC, issue: Issue) => Promise<void>): void {
  const bound = Object.fromEntries(
    Object.entries(grantHelpers).map(([name, helper]) => [name, (helper as Helper).bind(undefined, provider)]),
  );
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
