import { accountTokens } from './account-tokens.js';
import { approvals } from './approvals.js';
import { backchannel } from './backchannel.js';
import { audit } from './audit.js';
import { clients } from './clients.js';
import { consents } from './consents.js';
import { counters } from './counters.js';
import { type Db, databaseUrlOf, engineOf } from './db.js';
import { deliveries } from './deliveries.js';
import { deviceCodes } from './device-codes.js';
import { revokeGrant } from './grants.js';
import { identityProviders } from './identity-providers.js';
import { keys } from './keys.js';
import { oidcRows } from './oidc.js';
import { passkeys } from './passkeys.js';
import { purgeExpired } from './purge.js';
import { push } from './push.js';
import { registrations } from './registrations.js';
import { sessions } from './sessions.js';
import { retryDeadlocks, statements } from './sql.js';
import { tickets } from './tickets.js';
import { users } from './users.js';

const NOTIFY = { name: 'notify', text: 'SELECT pg_notify($1, $2)' };

/**
 * The store: every SQL statement Handoff runs, one module per table or model family, composed once at start-up
 * (server.ts) and handed to the features. A feature asks the store; it never writes SQL.
 *
 * | part | table | used by |
 * |---|---|---|
 * | `oidc` | `oidc_store` | the oidc-provider adapter (oidc/adapter.ts) |
 * | `deviceCodes` | `oidc_store` (device-flow columns) | device/ |
 * | `counters` | `rate_counters` | http/limits.ts |
 * | `tickets` | `qr_tickets` | qr-login/ |
 * | `approvals` | `device_approvals` | accounts/, device/, qr-login/ |
 * | `users`, `clients` | `users`, `clients` | accounts/, admin/, the adapter |
 * | `passkeys` | `passkeys`, `webauthn_challenges` | accounts/passkeys.ts |
 * | `sessions` | `account_sessions`, `oidc_store` (sessions) | accounts/ (list, end), admin/ |
 * | `consents` | `consents` | oidc/ (remembered consent), accounts/ (removed on the account page) |
 * | `keys` | `signing_keys`, `cookie_keys`, `admin_tokens` | oidc/keys.ts, admin/token.ts |
 * | `audit` | `audit_events` | ops/audit.ts |
 * | `deliveries` | `report_deliveries` | ops/reports.ts (the report webhook's queue) |
 * | `backchannel` | `backchannel_requests` | ciba/ (the phone's list and decision) |
 * | `push` | `vapid_keys`, `push_subscriptions` | ciba/push.ts |
 * | `registrations` | `registration_tokens`, `client_registrations` | oidc/registration.ts, admin/ |
 * | `accountTokens` | `account_tokens` | accounts/self-service.ts (mailed links) |
 * | `identityProviders` | `identity_providers`, `account_links`, `upstream_logins` | accounts/upstream*.ts, admin/ |
 */
export function createStore(db: Db) {
  const engine = engineOf(db);
  const { run, count, close } = statements(db, engine === 'postgres' ? databaseUrlOf(db) : undefined);
  const limits = counters(run);
  return {
    db,
    engine,
    oidc: oidcRows(run),
    deviceCodes: deviceCodes(db, run, limits),
    counters: limits,
    tickets: tickets(db),
    approvals: approvals(db, run),
    users: users(db, run),
    consents: consents(db),
    passkeys: passkeys(db),
    sessions: sessions(db, run),
    clients: clients(db, run),
    keys: keys(db),
    audit: audit(db),
    deliveries: deliveries(db),
    identityProviders: identityProviders(db),
    accountTokens: accountTokens(db),
    registrations: registrations(db),
    backchannel: backchannel(db),
    push: push(db),
    /** The one revoke-by-grant (store/grants.ts), in its own transaction. */
    revokeGrant: (grantId: string, models?: string[]) => retryDeadlocks(() => db.transaction((trx) => revokeGrant(trx, grantId, models))),
    purge: (opts: { batchSize: number; graceSeconds: number }) => purgeExpired(db, opts),
    /** SQL statements sent since start-up (a counter for /metrics and the capacity model in bench/). */
    statementCount: count,
    /** Closes what the store opened besides `db` (whose owner closes it). */
    close,
    async ping(): Promise<void> {
      await db.raw('SELECT 1');
    },
    /** NOTIFY for the event bus on PostgreSQL (events/pg-bus.ts listens on its own connection). */
    async notify(channel: string, payload: string): Promise<void> {
      await run(NOTIFY, [channel, payload]);
    },
  };
}

export type Store = ReturnType<typeof createStore>;
