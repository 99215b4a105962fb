import { randomBytes } from 'node:crypto';
import type Provider from 'oidc-provider';
import { registrationPolicySchema } from '../config/schema.js';
import { badRequest, notFound } from '../http/errors.js';
import { REGISTRATION_POLICY } from '../oidc/registration.js';
import { sha256 } from '../store/hash.js';
import type { Store } from '../store/index.js';
import type { RegistrationToken } from '../store/registrations.js';

/**
 * `/admin/registration-tokens`: initial access tokens (RFC 7591 3.1) that let a client register itself under a policy
 * (oidc/registration.ts): `{"label", "policy": {"grant_types", "scopes", "device_flow_scopes", "public_only",
 * "allow_choices"}, "max_clients", "expires_in"}`. The token's value is in the answer to its creation only; Handoff
 * keeps its hash. A revoked token admits no more clients; those it registered stay, listed with it.
 */
const FIELDS = ['label', 'policy', 'max_clients', 'expires_in'];

export interface NewRegistrationToken {
  label: string;
  policy: RegistrationToken['policy'];
  maxClients: number | null;
  expiresIn: number | null;
}

export function parseRegistrationToken(input: Record<string, unknown>): NewRegistrationToken {
  for (const key of Object.keys(input)) if (!FIELDS.includes(key)) throw badRequest(`unknown field ${key}`, key);
  const label = input.label;
  if (typeof label !== 'string' || label.length === 0 || label.length > 100 || /[\u0000-\u001f\u007f]/.test(label))
    throw badRequest('label must be a non-empty string of at most 100 printable characters', 'label');
  const policy = registrationPolicySchema.safeParse(input.policy);
  if (!policy.success) {
    const issue = policy.error.issues[0];
    const field = ['policy', ...(issue?.path ?? [])].join('.');
    throw badRequest(`${field}: ${issue?.message ?? 'not valid'}`, field);
  }
  const whole = (v: unknown, field: string, min: number, max: number): number | null => {
    if (v === undefined || v === null) return null;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      throw badRequest(`${field} must be a whole number from ${min} to ${max}`, field);
    return v;
  };
  return {
    label,
    policy: policy.data,
    maxClients: whole(input.max_clients, 'max_clients', 1, 1_000_000),
    expiresIn: whole(input.expires_in, 'expires_in', 60, 366 * 86400),
  };
}

/** What the admin API shows of a token (never its value or hash). */
export const tokenView = (t: RegistrationToken) => ({
  id: t.id,
  label: t.label,
  policy: t.policy,
  max_clients: t.max_clients,
  registered: t.registered,
  created_at: t.created_at,
  expires_at: t.expires_at,
  revoked_at: t.revoked_at,
});

export function registrationTokenAdmin(store: Store, provider: () => Provider) {
  return {
    /** Issues a token: oidc-provider's own initial access token (so the library finds it) and our row of its policy. */
    async create(input: NewRegistrationToken): Promise<ReturnType<typeof tokenView> & { token: string }> {
      const p = provider();
      const value = await new p.InitialAccessToken({
        policies: [REGISTRATION_POLICY],
        ...(input.expiresIn === null ? {} : { expiresIn: input.expiresIn }),
      }).save();
      const row = await store.registrations.insert({
        id: `rt_${randomBytes(6).toString('base64url')}`,
        tokenHash: sha256(value),
        label: input.label,
        kind: 'token',
        policy: input.policy,
        maxClients: input.maxClients,
        expiresIn: input.expiresIn,
      });
      return { ...tokenView(row), token: value };
    },
    async list() {
      return (await store.registrations.list()).map(tokenView);
    },
    async revoke(id: string): Promise<void> {
      if (!(await store.registrations.revoke(id))) throw notFound('no such live registration token');
    },
  };
}
