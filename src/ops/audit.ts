import type { AuditRow } from '../store/audit.js';
import type { Store } from '../store/index.js';

/**
 * The audit trail: every approval, denial and revocation of a device or desktop sign-in, and every change made
 * through the admin API. `device_*` describe the device that asked (TV, CLI, desktop browser); `actor_ip` is where
 * the person (or the admin caller) acted from; `detail` holds what an admin change changed (never a secret).
 */
export type AuditAction =
  | 'device.approved'
  | 'device.denied'
  | 'device.revoked'
  | 'device.reported'
  | 'desktop.approved'
  | 'desktop.denied'
  | 'desktop.revoked'
  | 'desktop.reported'
  | 'ciba.requested'
  | 'ciba.approved'
  | 'ciba.denied'
  | 'ciba.revoked'
  | 'ciba.reported'
  | 'account.signed_in'
  | 'account.signed_out_everywhere'
  | 'account.signed_up'
  | 'account.email_verified'
  | 'account.password_reset'
  | 'account.passkey.added'
  | 'account.passkey.removed'
  | 'account.upstream.linked'
  | 'account.upstream.unlinked'
  | 'client.registered'
  | 'client.updated'
  | 'client.deleted'
  | 'admin.registration_token.created'
  | 'admin.registration_token.revoked'
  | 'admin.user.created'
  | 'admin.user.updated'
  | 'admin.user.deleted'
  | 'admin.user.sessions_ended'
  | 'admin.client.created'
  | 'admin.client.updated'
  | 'admin.client.secret_rotated'
  | 'admin.client.deleted'
  | 'admin.keys.rotated'
  | 'admin.cookie_keys.rotated'
  | 'admin.identity_provider.created'
  | 'admin.identity_provider.updated'
  | 'admin.identity_provider.deleted'
  | 'admin.db.migrated';

export interface AuditEvent extends AuditRow {
  action: AuditAction;
}

export function audit(store: Store, e: AuditEvent): Promise<void> {
  return store.audit.insert(e);
}
