import type { Db } from '../storage/db.js';
import { type Counter, hit, release } from '../store/counters.js';

/**
 * The one limit function every limit uses. Counters are checked in the order given; the first that is full refuses
 * the request, and every counter taken before it is given back, so **a request refused by one limit spends no
 * other budget** (an address over its own limit cannot spend a client's, an account's or anyone else's).
 *
 * Put the narrowest, cheapest-to-refuse counter first (the caller's own address), so a flood is stopped before it
 * touches a shared budget at all.
 */
export class LimitExceeded extends Error {
  readonly retryAfter: number;
  readonly bucket: string;
  constructor(bucket: string, retryAfter: number) {
    super(`limit ${bucket} reached`);
    this.name = 'LimitExceeded';
    this.bucket = bucket;
    this.retryAfter = Math.max(1, retryAfter);
  }
}

/** Takes one attempt from each counter, or none at all: throws {@link LimitExceeded} naming the full one. */
export async function take(db: Db, counters: Counter[]): Promise<void> {
  const taken: Counter[] = [];
  for (const c of counters) {
    const r = await hit(db, c);
    if (r.refused) {
      await release(db, taken);
      throw new LimitExceeded(c.bucket, r.retryAfter);
    }
    taken.push(c);
  }
}

/** Gives back attempts that turned out to be legitimate (a correct password, a code that exists). */
export function giveBack(db: Db, counters: Counter[]): Promise<void> {
  return release(db, counters);
}
