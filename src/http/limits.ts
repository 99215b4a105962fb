import type { MessageKey } from '../views/i18n.js';
import type { Counter, Refusal } from '../store/counters.js';
import type { Store } from '../store/index.js';
import { TooManyRequests } from './errors.js';

/**
 * The one limit function every limit uses. Counters are checked in the order given; the first that is full refuses
 * the request with {@link TooManyRequests} (429, `Retry-After`), and every counter taken before it is given back, so
 * **a request refused by one limit spends no other budget** (an address over its own limit cannot spend a client's,
 * an account's or anyone else's).
 *
 * Put the narrowest, cheapest-to-refuse counter first (the caller's own address), so a flood is stopped before it
 * touches a shared budget at all.
 */
export interface Limit extends Counter {
  /** What the refusal says (English, for logs and JSON) and its page text. */
  refusal?: { description: string; key?: MessageKey };
}

export async function take(store: Store, limits: Limit[]): Promise<void> {
  refuseIf(limits, await store.counters.take(limits));
}

/** The answer to a request one of `limits` refused (store/counters.ts decides which): 429 with its `Retry-After`. */
export function refuseIf(limits: Limit[], refused: Refusal | undefined): void {
  if (!refused) return;
  const refusal = limits[refused.index]?.refusal ?? { description: 'too many requests; wait before trying again' };
  throw new TooManyRequests(refusal.description, refused.retryAfter, refusal.key ? { key: refusal.key } : {});
}

/** Gives back attempts that turned out to be legitimate (a correct password, a code that exists). */
export function giveBack(store: Store, limits: Counter[]): Promise<void> {
  return store.counters.release(limits);
}
