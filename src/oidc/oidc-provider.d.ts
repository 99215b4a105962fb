/**
 * What Handoff adds to oidc-provider's types, in one place (the typed seam; oidc/seams.ts is its runtime half).
 */
import 'oidc-provider';

declare module 'oidc-provider' {
  interface AllClientMetadata {
    /** `false` turns desktop scan-to-sign-in off for this client (qr-login/desktop.ts); on by default. */
    qr_login?: boolean | undefined;
    /** `true`: this confidential client (an API) may introspect tokens issued to other clients. */
    resource_server?: boolean | undefined;
    /** Whether the asking device and the deciding phone must share a network (http/address.ts `proximityOf`). */
    handoff_proximity?: 'off' | 'warn' | 'require' | undefined;
    /** The only scopes a device authorization of this client may ask for (device/authorization.ts). */
    device_flow_scopes?: string[] | undefined;
  }

  interface InteractionResults {
    /** Set when a desktop scan finished the sign-in: app.ts then ends the desktop's session. */
    handoff?: { scan: string } | undefined;
  }
}
