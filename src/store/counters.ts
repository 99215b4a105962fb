import { combine } from './combine.js';
import { perCount, type Run } from './sql.js';

/**
 * Fixed-window counters shared by every instance (`rate_counters`). One statement both counts and decides, so
 * concurrent attempts cannot slip past a limit between a read and a write.
 *
 * Counters are *capped*: a hit that finds the window full is refused and does not count, so a caller who keeps
 * hammering a full window does not push its end further away or inflate anything.
 */
export interface Counter {
  bucket: string;
  key: string;
  windowSeconds: number;
  max: number;
}

export interface Hit {
  refused: boolean;
  /** Seconds until the window ends (at least 1). */
  retryAfter: number;
}

/**
 * Hits that arrive together are counted by one statement ({@link combine}): a batch of hits, in arrival order, is
 * grouped by counter, and each counter's row is inserted or updated once. On a row whose window is still open with
 * `count` of `max` used, a group of `n` hits counts `taken = LEAST(n, max - count)`; a window that has ended starts
 * afresh with `LEAST(n, max)`. The first `taken` hits of the group, in arrival order, are allowed, the rest refused.
 * A lone hit is a batch of one, so there is one text for both. The row is locked by the upsert itself, so
 * concurrent statements (other instances included) count on the latest row and the count stays exact; rows are
 * taken in key order, so two batches never wait on each other in a circle.
 */
const EXPIRED = 'r.window_start <= now() - make_interval(secs => excluded.window_seconds)';

/**
 * Seconds until a window that opened at `start` ends, as a client is told in `Retry-After`: between 1 and the window
 * itself. Measured against the statement's own clock (`clock_timestamp()`), not `now()` (the start of its
 * transaction): a statement that waited on a row's lock while another opened the window a moment later would
 * otherwise compute more than the whole window left. `LEAST` bounds it by the window whatever the clocks say.
 */
export const retryAfterSql = (start: string, seconds: string) =>
  `LEAST(${seconds}, GREATEST(1, CEIL(EXTRACT(EPOCH FROM (${start} + make_interval(secs => ${seconds}) - clock_timestamp())))))::int`;
/**
 * Counts the groups of CTE `groups` (columns b, k, w, m, n: bucket, key, window, max, hits), each row once, in key
 * order: `taken` of the group's `n` hits are counted (see {@link HITS}); answers each row's `taken` and seconds left.
 */
const countGroups = (groups: string) => {
  const room = `(SELECT g.m FROM ${groups} g WHERE g.b = excluded.bucket AND g.k = excluded.key) - r.count`;
  return `INSERT INTO rate_counters AS r (bucket, key, count, window_start, taken, window_seconds)
      SELECT b, k, LEAST(n, m), now(), LEAST(n, m), w FROM ${groups} ORDER BY b, k
      ON CONFLICT (bucket, key) DO UPDATE SET
        taken = CASE WHEN ${EXPIRED} THEN excluded.taken ELSE LEAST(excluded.taken, GREATEST(0, ${room})) END,
        count = CASE WHEN ${EXPIRED} THEN excluded.taken ELSE r.count + LEAST(excluded.taken, GREATEST(0, ${room})) END,
        window_start = CASE WHEN ${EXPIRED} THEN now() ELSE r.window_start END,
        window_seconds = excluded.window_seconds
      RETURNING bucket, key, taken, ${retryAfterSql('window_start', 'window_seconds')} AS retry_after`;
};
const HITS = {
  name: 'counter_hits',
  text: `WITH h AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS h(i int, b text, k text, w int, m int)),
    g AS (SELECT b, k, min(w) AS w, min(m) AS m, count(*)::int AS n FROM h GROUP BY b, k),
    up AS (${countGroups('g')})
    SELECT h.i, row_number() OVER (PARTITION BY h.b, h.k ORDER BY h.i) > up.taken AS refused, up.retry_after
    FROM h JOIN up ON up.bucket = h.b AND up.key = h.k ORDER BY h.i`,
};

const RELEASE = {
  name: 'counter_release',
  text: `UPDATE rate_counters AS r SET count = GREATEST(r.count - 1, 0)
    FROM (SELECT bucket, key FROM rate_counters
          WHERE (bucket, key) IN (SELECT b, k FROM jsonb_to_recordset($1::jsonb) AS l(b text, k text))
          ORDER BY bucket, key FOR UPDATE) AS s
    WHERE r.bucket = s.bucket AND r.key = s.key`,
};

/** The placeholders of limit `i` of a list sent from `$first` (see {@link chainParams}): bucket, key, window, max. */
export const limitPlaceholders = (first: number, i: number) => [0, 1, 2, 3].map((j) => `$${first + 4 * i + j}`);

/**
 * One request's limits in order, one statement: a chain of upserts in which hit `i` is sent only when hits `0..i-1`
 * were allowed (`onlyIf` can hold the whole chain back, see store/device-codes.ts). Parameters from `$first`, four a
 * hit: bucket, key, window seconds, max. Each hit counts as a lone {@link HITS} hit does.
 */
export function chainCtes(n: number, first: number, onlyIf = 'true'): string {
  return Array.from({ length: n }, (_, i) => {
    const [b, k, w, m] = limitPlaceholders(first, i);
    const expired = `r.window_start <= now() - make_interval(secs => ${w}::int)`;
    const room = `LEAST(1, GREATEST(0, ${m}::int - r.count))`;
    const after = i === 0 ? onlyIf : `${onlyIf} AND (SELECT taken FROM c${i - 1}) = 1`;
    return `c${i} AS (
      INSERT INTO rate_counters AS r (bucket, key, count, window_start, taken, window_seconds)
      SELECT ${b}::text, ${k}::text, LEAST(1, ${m}::int), now(), LEAST(1, ${m}::int), ${w}::int WHERE ${after}
      ON CONFLICT (bucket, key) DO UPDATE SET
        taken = CASE WHEN ${expired} THEN LEAST(1, ${m}::int) ELSE ${room} END,
        count = CASE WHEN ${expired} THEN LEAST(1, ${m}::int) ELSE r.count + ${room} END,
        window_start = CASE WHEN ${expired} THEN now() ELSE r.window_start END,
        window_seconds = excluded.window_seconds
      RETURNING taken, ${retryAfterSql('window_start', 'window_seconds')} AS retry_after)`;
  }).join(',\n    ');
}

/** The chain's answer columns: `t<i>` (1 allowed, 0 refused, null not sent) and `r<i>` (seconds left). */
export const chainColumns = (n: number) =>
  Array.from({ length: n }, (_, i) => `(SELECT taken FROM c${i}) AS t${i}, (SELECT retry_after FROM c${i}) AS r${i}`).join(', ');

export const chainParams = (list: Counter[]) => list.flatMap((c) => [c.bucket, c.key, c.windowSeconds, c.max]);

/** The limit that refused a request: its position in the list, and when its window ends. */
export interface Refusal {
  index: number;
  retryAfter: number;
}

export type ChainRow = Record<string, number | null>;

/** The first refused hit of a chain row. */
export function chainRefusal(row: ChainRow | undefined, list: Counter[]): Refusal | undefined {
  for (let i = 0; i < list.length; i++) {
    if (row?.[`t${i}`] !== 1) return { index: i, retryAfter: Number(row?.[`r${i}`] ?? list[i]?.windowSeconds ?? 1) };
  }
  return undefined;
}

const chainStatement = perCount((n) => ({ name: `counter_chain_${n}`, text: `WITH ${chainCtes(n, 1)} SELECT ${chainColumns(n)}` }));

/**
 * Chains of one shape (the same buckets, each after the one before in lock order) that arrive together, counted by one
 * statement ({@link combine}), level by level: level `j` is the {@link HITS} count of the `j`-th limit of every chain
 * still allowed by its levels before it, in arrival order (the first `taken` hits of a counter's group are allowed).
 * So each chain is answered as a lone chain is, except that a chain refused at a later level gives its earlier counts
 * back only after the statement: a chain after it in the same batch may find those windows fuller than it would have
 * (it can be refused near a limit, never allowed past one). Every row of level `j` is in bucket `j`, and the buckets
 * rise, so the rows are locked in key order across levels as every statement that locks several counter rows locks
 * them. A chain that goes out alone is sent as the plain chain ({@link chainStatement}), which counts it the same.
 */
const chainManyStatement = perCount((n) => {
  const levels = Array.from({ length: n }, (_, j) => {
    const input = j === 0 ? 'SELECT * FROM h WHERE l = 0' : `SELECT h.* FROM h JOIN a${j - 1} p ON p.i = h.i AND p.ok WHERE h.l = ${j}`;
    return `h${j} AS (${input}),
    g${j} AS (SELECT b, k, min(w) AS w, min(m) AS m, count(*)::int AS n FROM h${j} GROUP BY b, k),
    u${j} AS (${countGroups(`g${j}`)}),
    a${j} AS (
      SELECT h${j}.i, row_number() OVER (PARTITION BY h${j}.b, h${j}.k ORDER BY h${j}.i) <= u${j}.taken AS ok, u${j}.retry_after
      FROM h${j} JOIN u${j} ON u${j}.bucket = h${j}.b AND u${j}.key = h${j}.k
    )`;
  });
  const columns = Array.from({ length: n }, (_, j) => `a${j}.ok::int AS t${j}, a${j}.retry_after AS r${j}`).join(', ');
  const joins = Array.from({ length: n - 1 }, (_, j) => `LEFT JOIN a${j + 1} ON a${j + 1}.i = a0.i`).join(' ');
  return {
    name: `counter_chains_${n}`,
    text: `WITH h AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS h(i int, l int, b text, k text, w int, m int)),
    ${levels.join(',\n    ')}
    SELECT a0.i, ${columns} FROM a0 ${joins} ORDER BY a0.i`,
  };
});

/** Whether chains of this list's shape may be combined: each bucket after the one before (so rows lock in key order). */
const risingBuckets = (list: Counter[]) => list.every((c, i) => i === 0 || (list[i - 1] as Counter).bucket < c.bucket);

/**
 * Whether a chain may be one statement: its order is also the lock order every statement that locks several counter
 * rows keeps (key order, `bucket` then `key`: combined hits sort, give-backs sort), so no two of them can ever wait on
 * each other in a circle. A chain in another order is counted one statement per limit, each locking one row.
 */
export function inLockOrder(list: Counter[]): boolean {
  return list.every((c, i) => {
    const before = list[i - 1];
    return !before || before.bucket < c.bucket || (before.bucket === c.bucket && before.key < c.key);
  });
}

/** At most this many counter statements out at once per instance; hits beyond wait and go out together. */
const IN_FLIGHT = 2;

export function counters(run: Run) {
  const hit = combine<Counter, Hit>(
    async (list) => {
      const json = JSON.stringify(list.map((c, i) => ({ i, b: c.bucket, k: c.key, w: c.windowSeconds, m: c.max })));
      const rows = await run<{ i: number; refused: boolean; retry_after: number }>(HITS, [json]);
      return list.map((c, i) => {
        const row = rows[i];
        if (row?.i !== i) throw new Error('counter statement answered out of order');
        return { refused: row.refused, retryAfter: row.retry_after ?? c.windowSeconds };
      });
    },
    { maxInFlight: IN_FLIGHT, maxBatch: 256 },
  );
  // One combiner per shape of chain (its buckets, in order): only chains of one shape share a statement.
  const shapes = new Map<string, (list: Counter[]) => Promise<ChainRow | undefined>>();
  const chain = (list: Counter[]): Promise<ChainRow | undefined> => {
    const shape = list.map((c) => c.bucket).join('\u0000');
    let send = shapes.get(shape);
    if (!send) {
      send = combine<Counter[], ChainRow | undefined>(
        async (chains) => {
          // A chain alone is the plain chain (fixed parameters, no JSON to take apart): the same counts, less work.
          const [alone] = chains;
          if (alone && chains.length === 1) return [(await run<ChainRow>(chainStatement(alone.length), chainParams(alone)))[0]];
          const json = JSON.stringify(
            chains.flatMap((limits, i) => limits.map((c, l) => ({ i, l, b: c.bucket, k: c.key, w: c.windowSeconds, m: c.max }))),
          );
          const rows = await run<ChainRow & { i: number }>(chainManyStatement(alone?.length ?? 0), [json]);
          return chains.map((_, i) => {
            const row = rows[i];
            if (row?.i !== i) throw new Error('chain statement answered out of order');
            return row;
          });
        },
        { maxInFlight: IN_FLIGHT, maxBatch: 128 },
      );
      shapes.set(shape, send);
    }
    return send(list);
  };
  const release = async (list: Array<Pick<Counter, 'bucket' | 'key'>>): Promise<void> => {
    if (list.length === 0) return;
    await run(RELEASE, [JSON.stringify(list.map((c) => ({ b: c.bucket, k: c.key })))]);
  };
  return {
    /** Counts one attempt unless the window is full; reports whether it was refused. */
    hit,
    /**
     * One request's limits, in order: each is counted only while every one before it allowed the request, so a
     * request refused by one spends no other budget (the ones counted before it are given back). One statement when
     * the order is the lock order ({@link inLockOrder}; a lone limit joins the combined hits); the refusal, if any,
     * is answered.
     */
    async take(list: Counter[]): Promise<Refusal | undefined> {
      if (list.length === 0) return undefined;
      if (list.length === 1 || !inLockOrder(list)) {
        for (const [index, c] of list.entries()) {
          const r = await hit(c);
          if (r.refused) {
            await release(list.slice(0, index));
            return { index, retryAfter: r.retryAfter };
          }
        }
        return undefined;
      }
      const row = risingBuckets(list) ? await chain(list) : (await run<ChainRow>(chainStatement(list.length), chainParams(list)))[0];
      const refused = chainRefusal(row, list);
      if (refused) await release(list.slice(0, refused.index));
      return refused;
    },
    /**
     * Gives back one counted attempt per counter (never below zero), in one statement. The rows are locked in key
     * order, as the counting statement locks them, so a give-back and a combined hit never wait on each other in
     * a circle (a deadlock).
     */
    release,
    /** Whether a counter's window is full now (read only, counts nothing): when its window ends, or undefined. */
    async full(c: Counter): Promise<{ retryAfter: number } | undefined> {
      const row = (await run<{ retry_after: number }>(FULL, [c.bucket, c.key, c.windowSeconds, c.max]))[0];
      return row ? { retryAfter: row.retry_after } : undefined;
    },
  };
}

const FULL = {
  name: 'counter_full',
  text: `SELECT ${retryAfterSql('window_start', '$3::int')} AS retry_after FROM rate_counters
    WHERE bucket = $1 AND key = $2 AND count >= $4 AND window_start > now() - make_interval(secs => $3::int)`,
};

export type Counters = ReturnType<typeof counters>;
