import type { IncomingMessage } from 'node:http';
import { Provider } from 'oidc-provider';
import type { ApprovalRecord } from '../store/approvals.js';
import type { DecidedRows } from '../store/device-codes.js';
import type { OidcRow } from '../store/oidc.js';
import type { User } from '../store/user-columns.js';

/**
 * One reading of a row per request: when a rule of Handoff's has just read a row in the statement that decides
 * (the token endpoint's poll reads a decided device code; the phone's guess finds a code by its user code), it hands
 * the row to oidc-provider's next lookup of the same row in the same request (the adapter's `find` or
 * `findByUserCode`) instead of the library reading it a second time.
 *
 * A handed row is taken once, by the lookup it names, and only inside the request it was handed in (oidc-provider's
 * own request context, `Provider.ctx`). A write of the row in that request (upsert, consume, destroy) drops it first,
 * so the library never reads an older row than its own write. Nothing is decided on it that the library would not
 * decide on its own read: single use stays with the library's conditional consume.
 */
const handed = new WeakMap<IncomingMessage, Map<string, OidcRow>>();
/** The models a row was ever handed for: the adapter's other lookups and writes skip the request context. */
const models = new Set<string>();

const byKey = (model: string, keyHash: string) => `k\u0000${model}\u0000${keyHash}`;
const byUserCode = (model: string, userCodeHash: string) => `u\u0000${model}\u0000${userCodeHash}`;

function hand(req: IncomingMessage, model: string, lookup: string, row: OidcRow): void {
  models.add(model);
  let rows = handed.get(req);
  if (!rows) {
    rows = new Map();
    handed.set(req, rows);
  }
  rows.set(lookup, row);
}

function take(model: string, lookup: string): OidcRow | undefined {
  if (!models.has(model)) return undefined;
  const req = Provider.ctx?.req;
  const rows = req && handed.get(req);
  const row = rows?.get(lookup);
  if (row) rows?.delete(lookup);
  return row;
}

/** The row of `model` with key hash `keyHash`, for the library's `find` in this request. */
export function handRow(req: IncomingMessage, model: string, keyHash: string, row: OidcRow): void {
  hand(req, model, byKey(model, keyHash), row);
}

/** The row found by user code hash `userCodeHash`, for the library's `findByUserCode` in this request. */
export function handRowByUserCode(req: IncomingMessage, model: string, userCodeHash: string, row: OidcRow): void {
  hand(req, model, byUserCode(model, userCodeHash), row);
}

export const takeHandedRow = (model: string, keyHash: string) => take(model, byKey(model, keyHash));
export const takeHandedRowByUserCode = (model: string, userCodeHash: string) => take(model, byUserCode(model, userCodeHash));

/**
 * What the token endpoint's poll read of a decided code, handed to the lookups oidc-provider makes next in the same
 * request when it issues the tokens: the code (`find`), its grant (`Grant.find`) and its account (`findAccount`,
 * oidc/account.ts). All three were read by the poll's one statement, a moment before the library's consume; the
 * consume still decides who redeems.
 */
export function handDecided(req: IncomingMessage, keyHash: string, rows: DecidedRows): void {
  handRow(req, 'DeviceCode', keyHash, rows.code);
  if (rows.grant) handRow(req, 'Grant', rows.grant.key_hash, rows.grant);
  if (rows.account) accounts.set(req, rows.account);
}
const accounts = new WeakMap<IncomingMessage, User>();

/**
 * The user a session read in the request being served (oidc-provider's context) is signed in as, read by the same
 * statement (store/oidc.ts `findSession`): for the library's `findAccount` or the page of that request. Only the
 * library's own requests hand it, and nothing in them writes the user before reading it.
 */
export function handSessionAccount(user: User): void {
  const req = Provider.ctx?.req;
  if (req) accounts.set(req, user);
}

/** The account handed in `req` if it is the user `id`; taken once. */
export function takeHandedAccount(req: IncomingMessage, id: string): User | undefined {
  const user = accounts.get(req);
  if (!user) return undefined;
  accounts.delete(req);
  return user.id === id ? user : undefined;
}

/** The row is written in this request: whatever was handed of it is older than the write. */
export function dropHandedRow(model: string, keyHash: string): void {
  if (!models.has(model)) return;
  const req = Provider.ctx?.req;
  const rows = req && handed.get(req);
  if (!rows) return;
  rows.delete(byKey(model, keyHash));
  for (const [lookup, row] of rows) if (row.key_hash === keyHash && lookup.startsWith(`u\u0000${model}\u0000`)) rows.delete(lookup);
}

/**
 * A device approval's record, handed by the rules that allowed it (device/approval-rules.ts, run where
 * the library makes the approval's grant) to the library's write of that approval in the same request (the adapter's
 * `upsert`), which makes both in one statement (store/approvals.ts `decided`) and leaves its outcome here for the
 * success page. The account and client are the write's own.
 */
export interface HandedApproval {
  record: Omit<ApprovalRecord, 'accountId' | 'clientId'>;
  /** Where the statement announces the approval (events/bus.ts `channel`). */
  channel: string | undefined;
  outcome?: { recorded: boolean; announced: boolean };
}
const approvals = new WeakMap<IncomingMessage, Map<string, HandedApproval>>();

export function handApproval(req: IncomingMessage, keyHash: string, approval: HandedApproval): void {
  let list = approvals.get(req);
  if (!list) {
    list = new Map();
    approvals.set(req, list);
  }
  list.set(keyHash, approval);
}

/** The approval handed for the device code `keyHash` in the request being served (oidc-provider's context). */
export function handedApproval(keyHash: string): HandedApproval | undefined {
  const req = Provider.ctx?.req;
  return req ? approvals.get(req)?.get(keyHash) : undefined;
}

/** What the write did with the approval handed in `req` for `keyHash`, once it is made. */
export function approvalOutcome(req: IncomingMessage, keyHash: string): HandedApproval['outcome'] {
  return approvals.get(req)?.get(keyHash)?.outcome;
}
