import type { Db } from './db.js';

/** `report_deliveries` (migrations/20261204000300_report_deliveries.ts): the report webhook's queue. */
export interface Delivery {
  id: string;
  payload: Record<string, unknown>;
  /** Attempts made, this one included. */
  attempts: number;
}

export function deliveries(db: Db) {
  return {
    /**
     * Queues one event, and keeps the queue at most `max` long by dropping its oldest events (a receiver that stays
     * down cannot make the queue grow without bound). How many were dropped.
     */
    async enqueue(id: string, payload: Record<string, unknown>, max: number): Promise<number> {
      return db.transaction(async (trx) => {
        await trx('report_deliveries').insert({ id, payload: JSON.stringify(payload) });
        const dropped = await trx.raw<{ rows: unknown[] }>(
          `DELETE FROM report_deliveries WHERE id IN
             (SELECT id FROM report_deliveries ORDER BY created_at DESC, id OFFSET ?) RETURNING id`,
          [max],
        );
        return dropped.rows.length;
      });
    },
    /**
     * Takes up to `n` due deliveries for `leaseSeconds` (another instance skips them meanwhile), counting the attempt.
     */
    async claim(n: number, leaseSeconds: number): Promise<Delivery[]> {
      const rows = await db.raw<{ rows: Delivery[] }>(
        `UPDATE report_deliveries d SET attempts = d.attempts + 1, locked_until = now() + make_interval(secs => ?::int)
          WHERE d.id IN (SELECT id FROM report_deliveries
                          WHERE next_attempt_at <= now() AND (locked_until IS NULL OR locked_until <= now())
                          ORDER BY next_attempt_at LIMIT ? FOR UPDATE SKIP LOCKED)
          RETURNING d.id, d.payload, d.attempts`,
        [leaseSeconds, n],
      );
      return rows.rows;
    },
    /** Delivered, or given up: the event leaves the queue. */
    async remove(id: string): Promise<void> {
      await db('report_deliveries').delete().where({ id });
    },
    /** Tried and refused: due again in `seconds`. */
    async later(id: string, seconds: number): Promise<void> {
      await db('report_deliveries')
        .update({ next_attempt_at: db.raw(`now() + make_interval(secs => ?::int)`, [seconds]), locked_until: null })
        .where({ id });
    },
    async queued(): Promise<number> {
      const row = await db('report_deliveries').count<{ n: string }[]>({ n: '*' });
      return Number(row[0]?.n ?? 0);
    },
  };
}
