/** The scopes Handoff offers (OpenID Connect Core 5.4, plus offline_access for refresh tokens). */
export const SCOPES = ['openid', 'offline_access', 'profile', 'email'];
