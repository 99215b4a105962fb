import type { ApprovalKind, DeviceApproval } from '../store/approvals.js';
import type { Store } from '../store/index.js';

/**
 * What a user signed in elsewhere: device approvals and desktop scans, each with a grant of its own, so ending one
 * never ends another. Recorded by the device flow (device/flow.ts `approved`) and by a finished desktop scan
 * (qr-login/desktop.ts).
 */
export type { ApprovalKind, DeviceApproval };

/** The account's live sign-ins for "Your devices". */
export function listApprovals(store: Store, accountId: string): Promise<DeviceApproval[]> {
  return store.approvals.listLive(accountId);
}

/**
 * revoke: ends one sign-in of this account, in one transaction with its audit entry, deleting its grant and every
 * token issued under it, so its access and refresh tokens stop working at once. Undefined when nothing was ended.
 */
export function revokeApproval(store: Store, accountId: string, id: string, actorIp: string): Promise<ApprovalKind | undefined> {
  return store.approvals.revoke(accountId, id, (row) => ({
    action: row.kind === 'desktop' ? 'desktop.revoked' : row.kind === 'ciba' ? 'ciba.revoked' : 'device.revoked',
    accountId: row.accountId,
    clientId: row.clientId,
    deviceIp: row.deviceIp,
    deviceUa: row.deviceUa,
    actorIp,
  }));
}
