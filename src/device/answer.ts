import type { IncomingMessage, ServerResponse } from 'node:http';
import { errors } from 'oidc-provider';
import type { DecidedRows } from '../store/device-codes.js';

/**
 * How the device grant answers, wherever a presentation is decided (device/token.ts, and the held presentations it
 * parks): the verdicts, oidc-provider's own refusals, a refusal written as the library writes its errors, and the
 * verdict the lane hands on to the grant inside the library.
 */
/** One HTTP exchange as the lane sees it: the raw request and response, and the client's address. */
export interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  /** The client address (behind a trusted proxy: from X-Forwarded-For, as Koa computes it). */
  ip: string;
  /**
   * Headers every answer carries (security headers, the request id). They are written with the answer, not set
   * while a request is held: a held request then keeps no header table of its own while it waits.
   */
  headers: Record<string, string>;
}

export const header = (x: Exchange, name: string): string => {
  const v = x.req.headers[name];
  return typeof v === 'string' ? v : '';
};

/** A refusal, shaped as oidc-provider shapes its errors: status, `error`, `error_description`, headers. */
export interface Refusal {
  status: number;
  error: string;
  description: string;
  headers: Record<string, string>;
}

/**
 * What a device-grant presentation gets, decided in one place ({@link decidePoll}) for the lane and for the grant
 * inside oidc-provider alike: tokens from oidc-provider (`issue`, and whether this presentation is a replay), a
 * refusal, or nothing (`gone`: the client hung up while held).
 */
export type Verdict =
  /** `rows`: the code (grant, account) as the poll read it, handed to the library's own lookups (oidc/handed-rows.ts). */
  | { kind: 'issue'; replay: boolean; headers: Record<string, string>; rows?: DecidedRows | undefined }
  | ({ kind: 'refuse' } & Refusal)
  | { kind: 'gone' };

/** A refusal with oidc-provider's own error code and description (so every answer reads as the library's would). */
export const refusal = (e: { status: number; error: string; error_description?: string | undefined }): { kind: 'refuse' } & Refusal => ({
  kind: 'refuse',
  status: e.status,
  error: e.error,
  description: e.error_description ?? '',
  headers: {},
});
export const PENDING = refusal(new errors.AuthorizationPending());
export const SLOW_DOWN = refusal(new errors.SlowDown());
export const EXPIRED = refusal(new errors.ExpiredToken('device code is expired'));
export const INVALID_GRANT = refusal(new errors.InvalidGrant('device code not valid here'));

/** A refusal written as oidc-provider writes its errors (status, body, headers, CORS). */
export function answer(x: Exchange, r: Refusal): void {
  const origin = header(x, 'origin');
  const body = JSON.stringify({ error: r.error, error_description: r.description });
  x.res.writeHead(r.status, {
    ...x.headers,
    'Cache-Control': 'no-store',
    Pragma: 'no-cache',
    // Only a request from an origin the client's CORS rule allows is answered here; any other is the app's.
    'Access-Control-Allow-Origin': origin || '*',
    'Access-Control-Expose-Headers': 'WWW-Authenticate',
    Vary: 'Origin',
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(Buffer.byteLength(body)),
    ...r.headers,
  });
  x.res.end(body);
}

/** What the lane did with a request: answered it, or handed it on (to the app, with its body). */
export type Handled = 'answered' | 'handed-on' | 'held';

/**
 * A code the lane found decided (or replayed) in this very request, by its poll or at the end of a hold: the device
 * grant inside oidc-provider then issues without polling the row a second time. It is used only for the same code
 * and the same client; whoever redeems first still wins at the library's consume.
 */
export interface DecidedInLane {
  key: string;
  clientId: string;
  replay: boolean;
  /** The code's rows as the lane's poll read them (absent after a hold, whose end re-read only its state). */
  rows?: DecidedRows | undefined;
}

const decidedInLane = new WeakMap<IncomingMessage, DecidedInLane>();

/** The lane found this request's code decided: the grant takes that verdict (see {@link DecidedInLane}). */
export function keepDecided(req: IncomingMessage, decided: DecidedInLane): void {
  decidedInLane.set(req, decided);
}

/** The lane's verdict for this request, once (the grant inside oidc-provider takes it). */
export function takeDecided(req: IncomingMessage): DecidedInLane | undefined {
  const decided = decidedInLane.get(req);
  decidedInLane.delete(req);
  return decided;
}
