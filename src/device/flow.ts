import { changeAnnounced, type EventBus } from '../events/bus.js';
import { newMatchNumbers } from '../http/number-match.js';
import { type AuditAction, audit } from '../ops/audit.js';
import type { Reporter } from '../ops/reports.js';
import type { Store } from '../store/index.js';
import type { ApprovalAudit } from '../store/approvals.js';
import type { DecidedRows, PollRow } from '../store/device-codes.js';

/**
 * The device authorization grant's state machine (RFC 8628), one device code's life:
 *
 *   pending ──scan (a phone opened the link or entered the code)──▶ scanned
 *      │                                                             │
 *      │            ┌───────────────approve (the phone's one decision)┴──deny──▶ denied
 *      │            ▼
 *      │        approved ──redeem (first /token answer wins)──▶ redeemed ──replay (again, an interval later)──▶ revoked
 *      │                                                          └──revoke ("Your devices")──────────────────────▶ revoked
 *      └──(lifetime ends undecided)──▶ expired
 *
 * Polls never change the state; they are paced (`slow_down`) by one statement that reads the code and decides at
 * once (store/device-codes.ts). Each transition below is one statement, or one transaction where it must record
 * more than the state; none reads then writes. The middleware that applies them sits around the three endpoints:
 * `POST /device/auth` (authorization.ts), `POST /token` with the device grant (token.ts), and the phone pages under
 * `/device` (verification.ts). oidc-provider stores the code and issues the tokens; it decides nothing here.
 */
export type HandoffState = 'pending' | 'scanned' | 'approved' | 'denied' | 'expired';

/** What one poll found, decided in the database: the token endpoint answers from it. */
export type PollOutcome =
  | { kind: 'unknown' }
  | { kind: 'other-client' }
  | { kind: 'slow-down' }
  | { kind: 'pending'; exp: number }
  | { kind: 'expired' }
  /** Approved or denied, not yet redeemed: oidc-provider answers (tokens or access_denied). `rows`: what it loads. */
  | { kind: 'decided'; rows?: DecidedRows }
  /** Redeemed, and presented again within one poll interval of its answer: one of many racing redemptions. */
  | { kind: 'lost-race' }
  /** Redeemed, and presented again later: oidc-provider revokes what it issued. */
  | { kind: 'replay'; rows?: DecidedRows };

export function pollOutcome(row: PollRow | undefined, clientId: string, nowSeconds = Date.now() / 1000): PollOutcome {
  if (!row) return { kind: 'unknown' };
  if (row.client_id !== clientId) return { kind: 'other-client' };
  if (row.consumed) return row.replay ? { kind: 'replay' } : { kind: 'lost-race' };
  if (row.approved || row.denied) return { kind: 'decided' };
  const exp = row.exp ?? 0;
  if (exp <= nowSeconds) return { kind: 'expired' };
  return row.accepted ? { kind: 'pending', exp } : { kind: 'slow-down' };
}

/**
 * poll: one statement paces and reads the code (and, once it is decided, the rows oidc-provider loads next: the code,
 * and for an approval not yet redeemed its grant and account).
 */
export async function poll(store: Store, key: string, clientId: string, interval: number): Promise<PollOutcome> {
  const row = await store.deviceCodes.poll(key, interval);
  const outcome = pollOutcome(row, clientId);
  if ((outcome.kind === 'decided' || outcome.kind === 'replay') && row?.payload) {
    const code = { payload: row.payload, consumed_at: row.consumed_at, key_hash: key };
    return { ...outcome, rows: { code, grant: row.grant, account: row.account } };
  }
  return outcome;
}

/** The state a waiting screen is shown, read from the row (never from the notification that woke it). */
export async function handoffState(
  store: Store,
  key: string,
): Promise<{ state: HandoffState; exp: number; accountId?: string; number?: number } | undefined> {
  const row = await store.deviceCodes.handoff(key);
  if (!row) return undefined;
  const exp = row.exp ?? 0;
  if (row.denied) return { state: 'denied', exp };
  if (row.account_id) return { state: 'approved', exp, accountId: row.account_id };
  if (exp <= Date.now() / 1000) return { state: 'expired', exp };
  if (row.scanned && row.match_number !== null) return { state: 'scanned', exp, number: Number(row.match_number) };
  return { state: row.scanned ? 'scanned' : 'pending', exp };
}

export const isFinal = (s: HandoffState) => s === 'approved' || s === 'denied' || s === 'expired';

/** scan: pending → scanned, announced once (by the statement itself where the bus has a channel). */
export async function scan(store: Store, bus: EventBus, key: string): Promise<void> {
  await changeAnnounced(
    bus,
    (channel) => store.deviceCodes.markScanned(key, channel),
    (made) => (made ? key : undefined),
  );
}

/**
 * scan with number matching: pending → scanned, and the code gets its number (shown by the device from now on) and
 * the three choices the phone offers, which this returns (the same on every opening).
 */
export async function scanMatching(store: Store, bus: EventBus, key: string): Promise<number[] | undefined> {
  const scanned = await store.deviceCodes.markScannedMatching(key, newMatchNumbers());
  if (scanned.first) await bus.publish(key);
  return scanned.choices;
}

/** What the phone approved or declined, as oidc-provider saved it. */
export interface Decision {
  key: string;
  accountId?: string | undefined;
  clientId: string;
  grantId?: string | undefined;
  deviceIp: string | null;
  deviceUa: string | null;
  requestedAt: Date | null;
  /** Where the person acted from. */
  actorIp: string;
  /** Whether the device and the phone were on one network (recorded with every decision). */
  sameNetwork: boolean;
}

/** An approval's audit entry: who acted from where, and whether the device and the phone shared a network. */
export const approvalAudit = (d: Decision): ApprovalAudit & { action: AuditAction } => ({
  action: 'device.approved',
  actorIp: d.actorIp,
  detail: { sameNetwork: d.sameNetwork },
});

/**
 * approve: recorded for "Your devices" and the audit trail once, and announced to whoever waits, in one statement
 * (where the bus has a channel; otherwise announced after it).
 */
export async function approved(store: Store, bus: EventBus, d: Decision, onOutcome?: Outcome): Promise<void> {
  if (d.accountId && d.grantId) {
    const approval = {
      id: d.key,
      kind: 'device' as const,
      accountId: d.accountId,
      clientId: d.clientId,
      grantId: d.grantId,
      deviceIp: d.deviceIp,
      deviceUa: d.deviceUa,
      requestedAt: d.requestedAt,
    };
    const recorded = await changeAnnounced(
      bus,
      (channel) => store.approvals.record(approval, approvalAudit(d), channel),
      () => d.key,
    );
    if (recorded) onOutcome?.('device', 'approved');
    return;
  }
  await bus.publish(d.key);
}

/**
 * deny: recorded in the audit trail (and reported, when a signed-in phone said it did not start it: `report` names
 * that account), then announced.
 */
export async function denied(
  store: Store,
  bus: EventBus,
  d: Decision,
  onOutcome?: Outcome,
  report?: { reporter: Reporter; accountId: string },
): Promise<void> {
  await audit(store, {
    action: 'device.denied',
    accountId: d.accountId ?? report?.accountId,
    clientId: d.clientId,
    deviceIp: d.deviceIp,
    deviceUa: d.deviceUa,
    actorIp: d.actorIp,
    detail: { sameNetwork: d.sameNetwork },
  });
  if (report) {
    await report.reporter({
      kind: 'device',
      clientId: d.clientId,
      accountId: report.accountId,
      deviceIp: d.deviceIp,
      deviceUa: d.deviceUa,
      phoneIp: d.actorIp,
      sameNetwork: d.sameNetwork,
    });
  }
  onOutcome?.('device', 'denied');
  await bus.publish(d.key);
}

export type Outcome = (kind: 'device' | 'desktop' | 'ciba', outcome: 'approved' | 'denied' | 'revoked') => void;
