import { createHmac, randomUUID } from 'node:crypto';
import type { Config } from '../config/schema.js';
import { addressKey } from '../http/address.js';
import { TooManyRequests } from '../http/errors.js';
import { type Limit, take } from '../http/limits.js';
import type { Logger } from '../log.js';
import type { Delivery } from '../store/deliveries.js';
import type { Store } from '../store/index.js';
import { audit } from './audit.js';
import type { Metrics } from './metrics.js';

/**
 * "I didn't start this" (RFC 10027, detect and remediate): the user declined a device code or a desktop scan and
 * said it was not theirs. The decision itself is a denial like any other; a report adds, never blocking the user's
 * answer: an audit event (`device.reported` / `desktop.reported`, the account, both addresses and the requesting user
 * agent), a count per client in /metrics, and an outgoing webhook when one is configured.
 *
 * Who may report, and how much: only a phone signed in to an account (the report names it; a browser that merely
 * holds a user code can decline, but reports nothing), and at most `reports.maxPerAddress` per phone address and
 * `reports.maxPerAccount` per account in `reports.windowSeconds`. Past either limit the decline still happens and
 * only the report is not recorded. A report changes no limit and no account: it can never lock anyone out.
 *
 * The webhook: each report is one event with an `id` (a UUID, the same on every attempt, so a receiver drops
 * duplicates), queued in the database (store/deliveries.ts) so it survives a restart and is shared by every instance;
 * at most `reports.maxQueued` events wait (the oldest are dropped first) and each instance sends at most
 * `reports.maxInFlight` at once. The body is JSON with `X-Handoff-Event-Id`, `X-Handoff-Timestamp` (seconds) and
 * `X-Handoff-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">`, so a receiver checks both and refuses
 * old timestamps. A refused attempt is tried again with doubling backoff from 1 s, up to `reports.maxAttempts`.
 */
export interface Report {
  kind: 'device' | 'desktop' | 'ciba';
  clientId: string;
  /** The signed-in account that reported. */
  accountId: string;
  deviceIp: string | null;
  deviceUa: string | null;
  phoneIp: string;
  sameNetwork: boolean;
}

/** Records a report; false when a limit refused it (the decline it came with stands either way). */
export type Reporter = (r: Report) => Promise<boolean>;

export function signature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

function reportLimits(config: Config, r: Report): Limit[] {
  const { windowSeconds, maxPerAccount, maxPerAddress } = config.reports;
  const refusal = { description: 'too many reports' };
  // Key order (bucket, key), as every statement that counts several limits keeps (store/counters.ts).
  return [
    { bucket: 'report:account', key: r.accountId, windowSeconds, max: maxPerAccount, refusal },
    { bucket: 'report:address', key: addressKey(r.phoneIp), windowSeconds, max: maxPerAddress, refusal },
  ];
}

export function reporter(deps: { store: Store; metrics: Metrics; config: Config; log: Logger; deliveries?: Deliveries }): Reporter {
  return async (r) => {
    try {
      await take(deps.store, reportLimits(deps.config, r));
    } catch (err) {
      if (!(err instanceof TooManyRequests)) throw err;
      deps.log.warn('report not recorded: too many', { kind: r.kind, client: r.clientId });
      deps.metrics.reportsRefused.inc({ kind: r.kind });
      return false;
    }
    await audit(deps.store, {
      action: r.kind === 'device' ? 'device.reported' : r.kind === 'ciba' ? 'ciba.reported' : 'desktop.reported',
      accountId: r.accountId,
      clientId: r.clientId,
      deviceIp: r.deviceIp,
      deviceUa: r.deviceUa,
      actorIp: r.phoneIp,
      detail: { sameNetwork: r.sameNetwork },
    });
    deps.metrics.reports.inc({ kind: r.kind, client: r.clientId });
    await deps.deliveries?.enqueue({
      type: `${r.kind}.reported`,
      client_id: r.clientId,
      account_id: r.accountId,
      device_ip: r.deviceIp,
      device_user_agent: r.deviceUa,
      phone_ip: r.phoneIp,
      same_network: r.sameNetwork,
      at: new Date().toISOString(),
    });
    return true;
  };
}

/** How long an instance holds a delivery it took (a delivery of an instance that died is taken again after it). */
const LEASE_SECONDS = 60;
/** How often an instance looks for due deliveries when nothing woke it. */
const POLL_MS = 1000;

/**
 * The webhook's sender on this instance: takes due events from the queue (never more than `maxInFlight` at once),
 * delivers them, and puts a refused one back with doubling backoff. Off when no webhook is configured.
 */
export function startDeliveries(deps: { store: Store; metrics: Metrics; config: Config; log: Logger }) {
  const { webhookUrl, webhookSecret, maxAttempts, maxQueued, maxInFlight } = deps.config.reports;
  let inFlight = 0;
  let stopped = false;
  let pumping = false;
  const sending = new Set<Promise<void>>();
  const controller = new AbortController();

  async function send(d: Delivery): Promise<void> {
    if (!webhookUrl || !webhookSecret) return;
    const body = JSON.stringify({ id: d.id, ...d.payload });
    const timestamp = String(Math.floor(Date.now() / 1000));
    try {
      const res = await fetch(webhookUrl, {
        method: 'POST',
        body,
        headers: {
          'content-type': 'application/json',
          'x-handoff-event-id': d.id,
          'x-handoff-timestamp': timestamp,
          'x-handoff-signature': signature(webhookSecret, timestamp, body),
        },
        signal: AbortSignal.any([AbortSignal.timeout(10_000), controller.signal]),
        redirect: 'manual',
      });
      await res.body?.cancel();
      if (res.ok) {
        await deps.store.deliveries.remove(d.id);
        return;
      }
      deps.log.warn('report webhook refused', { status: res.status, attempt: d.attempts, event: d.id });
    } catch (err) {
      // Shutting down: the event is given back at once (not left to its lease), for the next instance to deliver.
      if (stopped) return deps.store.deliveries.later(d.id, 0);
      deps.log.warn('report webhook failed', { err, attempt: d.attempts, event: d.id });
    }
    if (d.attempts >= maxAttempts) {
      deps.log.error('report webhook gave up', { attempts: d.attempts, event: d.id });
      deps.metrics.reportDeliveries.inc({ result: 'given_up' });
      await deps.store.deliveries.remove(d.id);
    } else await deps.store.deliveries.later(d.id, 2 ** (d.attempts - 1));
  }

  /** Takes what is due, as far as free slots allow, and sends each. */
  async function pump(): Promise<void> {
    if (pumping || stopped || !webhookUrl) return;
    pumping = true;
    try {
      const free = maxInFlight - inFlight;
      if (free <= 0) return;
      for (const d of await deps.store.deliveries.claim(free, LEASE_SECONDS)) {
        inFlight += 1;
        const p = send(d)
          .catch((err: unknown) => deps.log.warn('report delivery failed', { err, event: d.id }))
          .finally(() => {
            inFlight -= 1;
            sending.delete(p);
            void pump();
          });
        sending.add(p);
      }
    } catch (err) {
      deps.log.warn('report queue unavailable', { err });
    } finally {
      pumping = false;
    }
  }

  const timer = webhookUrl ? setInterval(() => void pump(), POLL_MS) : undefined;
  timer?.unref();

  return {
    /** Queues one event and wakes the sender. */
    async enqueue(payload: Record<string, unknown>): Promise<void> {
      if (!webhookUrl) return;
      const dropped = await deps.store.deliveries.enqueue(randomUUID(), payload, maxQueued);
      if (dropped) {
        deps.log.warn('report webhook queue full: oldest events dropped', { dropped });
        deps.metrics.reportDeliveries.inc({ result: 'dropped' }, dropped);
      }
      void pump();
    },
    /** Stops taking events; deliveries under way are abandoned (their events stay queued for the next start). */
    async stop(): Promise<void> {
      stopped = true;
      if (timer) clearInterval(timer);
      controller.abort();
      await Promise.allSettled([...sending]);
    },
  };
}

export type Deliveries = ReturnType<typeof startDeliveries>;
