/** The built-in first-party client that signs a browser in to Handoff's own account pages (accounts/routes.ts). */
export const ACCOUNT_CLIENT_ID = 'handoff-account';
