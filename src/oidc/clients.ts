/** The built-in first-party client that signs a browser in to Handoff's own account pages (accounts/routes.ts). */
export const ACCOUNT_CLIENT_ID = 'handoff-account';

/** Stored form of a client secret: only its SHA-256 (admin/clients.ts mints it; oidc/provider.ts compares). */
export const SECRET_HASH_PREFIX = 'sha256:';
