/**
 * Group commit for one kind of single-statement write: calls that arrive while the database is busy with earlier
 * ones go out together, as one statement (one round trip, one transaction, one commit), the way PostgreSQL's own
 * group commit shares one WAL flush between transactions.
 *
 * - A call that finds a free slot (fewer than `maxInFlight` statements of this kind out) is sent at once, alone:
 *   nothing ever waits for company, so a quiet server answers as fast as before.
 * - Calls that arrive while every slot is taken wait for the next free slot and are sent in one statement (at most
 *   `maxBatch` per statement).
 * - Each call settles when the statement that carried it has completed: a write is acknowledged only once it is
 *   committed, exactly as when it ran alone (no durability is traded).
 * - A statement that fails is rolled back whole (it is one statement), and its calls are then sent again one by one
 *   (in the same slot), so one bad call cannot fail the others and each caller gets its own answer or its own error.
 *
 * Only calls that are in flight at the same moment are combined, and such calls had no order between them before
 * either (each took its own pooled connection); a caller that awaits one write before the next keeps its order.
 */
export interface CombineOptions {
  maxInFlight: number;
  maxBatch: number;
}

export type Send<T, R> = (items: T[]) => Promise<R[]>;

interface Pending<T, R> {
  item: T;
  resolve: (r: R) => void;
  reject: (e: unknown) => void;
}

/**
 * `send` runs one statement for its items and returns one result per item, in order. It is called with one item
 * when a call is alone; it must accept any number up to `maxBatch`.
 */
export function combine<T, R>(send: Send<T, R>, opts: CombineOptions): (item: T) => Promise<R> {
  const queue: Array<Pending<T, R>> = [];
  let inFlight = 0;

  const settle = async (batch: Array<Pending<T, R>>) => {
    try {
      const results = await send(batch.map((p) => p.item));
      if (results.length !== batch.length) throw new Error(`combined statement answered ${results.length} of ${batch.length}`);
      for (const [i, p] of batch.entries()) p.resolve(results[i] as R);
    } catch (err) {
      if (batch.length === 1) (batch[0] as Pending<T, R>).reject(err);
      else {
        // One by one, each with its own answer or error, in the same slot (so never more than maxInFlight out).
        for (const p of batch) {
          try {
            p.resolve((await send([p.item]))[0] as R);
          } catch (e) {
            p.reject(e);
          }
        }
      }
    }
  };

  const pump = () => {
    while (inFlight < opts.maxInFlight && queue.length > 0) {
      const batch = queue.splice(0, opts.maxBatch);
      inFlight += 1;
      void settle(batch).finally(() => {
        inFlight -= 1;
        pump();
      });
    }
  };

  return (item) =>
    new Promise<R>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      pump();
    });
}
