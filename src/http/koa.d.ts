/** What Handoff keeps in Koa's per-request state (one declaration instead of casts at each use). */
import 'koa';

declare module 'koa' {
  interface DefaultState {
    /** The request path as oidc-provider matches it (http/protocol-routes.ts `canonicalPath`), set at the front door. */
    path?: string;
    /** The user code a QR link carried, taken off the query so oidc-provider draws the entry step (device/verification.ts). */
    linkedUserCode?: string;
    /** The phone's Decline was "I didn't start this", from this signed-in account (device/verification.ts): a report. */
    reportedBy?: string;
    /** The code that report is about, as the report's own read found it (device/verification.ts). */
    reportedCode?: import('oidc-provider').DeviceCode | undefined;
    /** A JSON body a route read and checked once (oidc/interactions.ts), for the handler that follows. */
    jsonBody?: Record<string, unknown>;
    /** A code typed on the entry page that is no code at all (shown back with the format). */
    typedUserCode?: string;
    /** The phone picked a number the device does not show (number matching): the denial says so. */
    wrongNumber?: boolean;
  }
}
