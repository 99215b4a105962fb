import { createHmac } from 'node:crypto';
import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';
import type { Store } from '../store/index.js';
import { audit } from './audit.js';
import type { Metrics } from './metrics.js';

/**
 * "I didn't start this" (RFC 10027, detect and remediate): the user declined a device code or a desktop scan and
 * said it was not theirs. The decision itself is a denial like any other; a report adds, never blocking the user's
 * answer: an audit event (`device.reported` / `desktop.reported`, both addresses and the requesting user agent), a
 * count per client in /metrics, and an outgoing webhook when one is configured. A report locks nobody out: it
 * changes no limit and no account.
 *
 * The webhook gets a JSON body and `X-Handoff-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<body>">` with
 * `X-Handoff-Timestamp` (seconds), so a receiver checks both and refuses old timestamps. Deliveries are retried with
 * doubling backoff from 1 s until a 2xx answer or `maxAttempts`.
 */
export interface Report {
  kind: 'device' | 'desktop';
  clientId: string;
  accountId: string | null;
  deviceIp: string | null;
  deviceUa: string | null;
  phoneIp: string;
  sameNetwork: boolean;
}

export type Reporter = (r: Report) => Promise<void>;

export function signature(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

export function reporter(deps: {
  store: Store;
  metrics: Metrics;
  config: Config;
  log: Logger;
  sleep?: (ms: number) => Promise<void>;
}): Reporter {
  const { webhookUrl, webhookSecret, maxAttempts } = deps.config.reports;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref()));
  const deliver = async (payload: Record<string, unknown>) => {
    if (!webhookUrl || !webhookSecret) return;
    const body = JSON.stringify(payload);
    for (let attempt = 1; attempt <= maxAttempts; attempt += 1) {
      const timestamp = String(Math.floor(Date.now() / 1000));
      try {
        const res = await fetch(webhookUrl, {
          method: 'POST',
          body,
          headers: {
            'content-type': 'application/json',
            'x-handoff-timestamp': timestamp,
            'x-handoff-signature': signature(webhookSecret, timestamp, body),
          },
          signal: AbortSignal.timeout(10_000),
          redirect: 'manual',
        });
        await res.body?.cancel();
        if (res.ok) return;
        deps.log.warn('report webhook refused', { status: res.status, attempt });
      } catch (err) {
        deps.log.warn('report webhook failed', { err, attempt });
      }
      if (attempt < maxAttempts) await sleep(1000 * 2 ** (attempt - 1));
    }
  };
  return async (r) => {
    await audit(deps.store, {
      action: r.kind === 'device' ? 'device.reported' : 'desktop.reported',
      accountId: r.accountId,
      clientId: r.clientId,
      deviceIp: r.deviceIp,
      deviceUa: r.deviceUa,
      actorIp: r.phoneIp,
      detail: { sameNetwork: r.sameNetwork },
    });
    deps.metrics.reports.inc({ kind: r.kind, client: r.clientId });
    // Never awaited: the user's answer does not wait for a security team's server.
    void deliver({
      type: `${r.kind}.reported`,
      client_id: r.clientId,
      account_id: r.accountId,
      device_ip: r.deviceIp,
      device_user_agent: r.deviceUa,
      phone_ip: r.phoneIp,
      same_network: r.sameNetwork,
      at: new Date().toISOString(),
    });
  };
}
