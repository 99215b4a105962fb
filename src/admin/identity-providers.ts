import { issuerAllowed, publicView, UPSTREAM_ID, type Upstreams, fromRow } from '../accounts/upstream.js';
import { badRequest, conflict, notFound } from '../http/errors.js';
import type { IdentityProviderChange } from '../store/identity-providers.js';
import type { Store } from '../store/index.js';

/**
 * `/admin/identity-providers`: the upstream OpenID Providers people may sign in with (accounts/upstream.ts). Input is
 * checked field by field, naming the first bad one; the client secret is write-only (answers say only whether one is
 * set), tokens kept for `keep_tokens` are in no answer, and an upstream from the settings file is changed there, not
 * here.
 */
const FIELDS = [
  'id',
  'name',
  'issuer',
  'client_id',
  'client_secret',
  'scopes',
  'enabled',
  'create_accounts',
  'link_verified_email',
  'keep_tokens',
];

const printable = (v: unknown, field: string, max: number): string => {
  if (typeof v !== 'string' || v.length === 0 || v.length > max || /[\u0000-\u001f\u007f]/.test(v))
    throw badRequest(`${field} must be a non-empty string of at most ${max} printable characters`, field);
  return v;
};
const bool = (v: unknown, field: string): boolean => {
  if (typeof v !== 'boolean') throw badRequest(`${field} must be true or false`, field);
  return v;
};

function parseChange(o: Record<string, unknown>, creating: boolean): IdentityProviderChange {
  for (const key of Object.keys(o)) {
    if (!FIELDS.includes(key) || (!creating && key === 'id'))
      throw badRequest(`unknown field ${key}${key === 'id' ? ' (an id cannot change)' : ''}`, key);
  }
  const change: IdentityProviderChange = {};
  if (o.name !== undefined) change.name = printable(o.name, 'name', 64);
  if (o.issuer !== undefined) {
    const issuer = printable(o.issuer, 'issuer', 500).replace(/\/$/, '');
    if (!issuerAllowed(issuer))
      throw badRequest('issuer must be an https URL (http only on localhost), without query or fragment', 'issuer');
    change.issuer = issuer;
  }
  if (o.client_id !== undefined) change.client_id = printable(o.client_id, 'client_id', 255);
  if (o.client_secret !== undefined)
    change.client_secret = o.client_secret === null ? null : printable(o.client_secret, 'client_secret', 1024);
  if (o.scopes !== undefined) {
    const scopes = typeof o.scopes === 'string' ? o.scopes.split(' ').filter(Boolean) : o.scopes;
    if (
      !Array.isArray(scopes) ||
      scopes.length === 0 ||
      scopes.length > 20 ||
      !scopes.every((s) => typeof s === 'string' && /^[\x21-\x7e]{1,64}$/.test(s))
    )
      throw badRequest('scopes must be a list (or a space-separated string) of scope names', 'scopes');
    if (!scopes.includes('openid')) throw badRequest('scopes must include openid', 'scopes');
    change.scopes = [...new Set(scopes as string[])];
  }
  for (const field of ['enabled', 'create_accounts', 'link_verified_email', 'keep_tokens'] as const)
    if (o[field] !== undefined) change[field] = bool(o[field], field);
  return change;
}

export function identityProviderAdmin(store: Store, upstreams: Upstreams, issuer: string) {
  const settingsOnly = (id: string) => {
    if (upstreams.inSettings(id)) throw conflict(`identity provider ${id} comes from the settings file: change it there`, 'id');
  };
  return {
    async list() {
      return (await upstreams.list()).map((u) => publicView(u, issuer));
    },
    async create(o: Record<string, unknown>) {
      if (typeof o.id !== 'string' || !UPSTREAM_ID.test(o.id))
        throw badRequest('id must be 1-32 lower-case letters, digits and - (it names the redirect URI)', 'id');
      settingsOnly(o.id);
      const change = parseChange(o, true);
      for (const field of ['name', 'issuer', 'client_id'] as const)
        if (change[field] === undefined) throw badRequest(`${field} is required`, field);
      const row = await store.identityProviders.insert({
        id: o.id,
        name: change.name ?? '',
        issuer: change.issuer ?? '',
        client_id: change.client_id ?? '',
        client_secret: change.client_secret ?? null,
        scopes: change.scopes ?? ['openid', 'email', 'profile'],
        enabled: change.enabled ?? true,
        create_accounts: change.create_accounts ?? true,
        link_verified_email: change.link_verified_email ?? false,
        keep_tokens: change.keep_tokens ?? false,
      });
      if (!row) throw conflict(`identity provider ${o.id} exists`, 'id');
      return publicView(fromRow(row), issuer);
    },
    async update(id: string, o: Record<string, unknown>) {
      settingsOnly(id);
      const change = parseChange(o, false);
      if (Object.keys(change).length === 0) throw badRequest('nothing to change');
      const row = await store.identityProviders.update(id, change);
      if (!row) throw notFound('no such identity provider');
      return publicView(fromRow(row), issuer);
    },
    async delete(id: string) {
      settingsOnly(id);
      if (!(await store.identityProviders.delete(id))) throw notFound('no such identity provider');
    },
  };
}
