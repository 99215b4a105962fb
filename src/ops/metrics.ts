import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/**
 * Prometheus metrics, one registry per Handoff instance (served at /metrics on the admin port). Labels are route
 * templates and outcomes, never values taken from a request.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly requests: Counter<'route' | 'method' | 'status'>;
  readonly latency: Histogram<'route'>;
  readonly handoffs: Counter<'kind' | 'outcome'>;
  readonly refusals: Counter<'limit'>;
  readonly reports: Counter<'kind' | 'client'>;
  readonly reportsRefused: Counter<'kind'>;
  readonly reportDeliveries: Counter<'result'>;
  readonly purges: Counter<'result'>;
  readonly purged: Counter;
  // Children by label values, so a request costs two increments and no label hashing.
  readonly #requestChildren = new Map<string, { count: { inc(): void }; latency: { observe(v: number): void } }>();

  /** One request: its count by route, method and status, its latency by route, and a refusal when it was a 429. */
  recordRequest(route: string, method: string, status: number, seconds: number): void {
    const key = `${route} ${method} ${status}`;
    let child = this.#requestChildren.get(key);
    if (!child) {
      if (this.#requestChildren.size > 5000) this.#requestChildren.clear();
      child = { count: this.requests.labels(route, method, String(status)), latency: this.latency.labels(route) };
      this.#requestChildren.set(key, child);
    }
    child.count.inc();
    child.latency.observe(seconds);
    if (status === 429) this.refusals.inc({ limit: route });
  }

  constructor(currentWaits: () => { held: number; stream: number }, sqlStatements: () => number = () => 0) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.requests = new Counter({
      name: 'handoff_http_requests_total',
      help: 'HTTP requests by route, method and status',
      labelNames: ['route', 'method', 'status'],
      registers,
    });
    this.latency = new Histogram({
      name: 'handoff_http_request_duration_seconds',
      help: 'Time to the response head by route (a held request counts its hold; a stream its setup)',
      labelNames: ['route'],
      buckets: [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 30],
      registers,
    });
    this.handoffs = new Counter({
      name: 'handoff_outcomes_total',
      help: 'Handoffs by kind (device, desktop) and outcome (approved, denied, revoked)',
      labelNames: ['kind', 'outcome'],
      registers,
    });
    this.refusals = new Counter({
      name: 'handoff_throttle_refusals_total',
      help: 'Requests refused by a limit (HTTP 429)',
      labelNames: ['limit'],
      registers,
    });
    this.reports = new Counter({
      name: 'handoff_reports_total',
      help: '"I didn\'t start this" reports by kind and client (a phishing attempt a user caught)',
      labelNames: ['kind', 'client'],
      registers,
    });
    this.reportsRefused = new Counter({
      name: 'handoff_reports_refused_total',
      help: 'reports not recorded because the phone address or the account reported too many (the decline stood)',
      labelNames: ['kind'],
      registers,
    });
    this.reportDeliveries = new Counter({
      name: 'handoff_report_deliveries_failed_total',
      help: 'report webhook events given up after every attempt, or dropped from a full queue',
      labelNames: ['result'],
      registers,
    });
    this.purges = new Counter({ name: 'handoff_purge_runs_total', help: 'Purge runs by result', labelNames: ['result'], registers });
    this.purged = new Counter({ name: 'handoff_purged_rows_total', help: 'Expired rows deleted by the purge', registers });
    new Counter({
      name: 'handoff_sql_statements_total',
      help: 'SQL statements this instance sent to the database',
      registers,
      collect() {
        this.reset();
        this.inc(sqlStatements());
      },
    });
    new Gauge({
      name: 'handoff_waits_current',
      help: 'Open held token requests and status streams on this instance',
      labelNames: ['kind'],
      registers,
      collect() {
        const w = currentWaits();
        this.set({ kind: 'held' }, w.held);
        this.set({ kind: 'stream' }, w.stream);
      },
    });
  }
}
