/**
 * The oidc-provider internals Handoff uses, only from oidc/seams.ts: the library's own device_code and CIBA grant
 * handlers (there is no public export of them) and the helpers the library binds before handing them to grant
 * handlers. Declared here because the package ships no types for them.
 */
type Helper = (...args: never[]) => unknown;

declare module 'oidc-provider/lib/actions/grants/device_code.js' {
  import type Provider from 'oidc-provider';
  import type { KoaContextWithOIDC } from 'oidc-provider';
  export function handler(provider: Provider, helpers: Record<string, unknown>, ctx: KoaContextWithOIDC): Promise<void>;
  export const parameters: Set<string>;
}

declare module 'oidc-provider/lib/actions/grants/ciba.js' {
  import type Provider from 'oidc-provider';
  import type { KoaContextWithOIDC } from 'oidc-provider';
  export function handler(provider: Provider, helpers: Record<string, unknown>, ctx: KoaContextWithOIDC): Promise<void>;
  export const parameters: Set<string>;
}

declare module 'oidc-provider/lib/helpers/grants.js' {
  export const consumeGrantSource: Helper;
  export const findAccount: Helper;
  export const findGrantSource: Helper;
  export const validateGrant: Helper;
  export const checkDpopRequired: Helper;
  export const checkMtlsCert: Helper;
  export const validateDpop: Helper;
  export const checkDpopReplay: Helper;
  export const applyAuthorizationDetails: Helper;
  export const resolveAndApplyResource: Helper;
  export const resolveRequestedResources: Helper;
  export const validateClientScope: Helper;
  export const applyRefreshTokenBindings: Helper;
  export const shouldIssueRefreshToken: Helper;
  export const buildTokenResponse: Helper;
}

declare module 'oidc-provider/lib/helpers/re_render_errors.js' {
  export class AlreadyUsedError extends Error {
    constructor(userCode?: string);
  }
}
