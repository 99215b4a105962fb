import type { AdapterPayload } from 'oidc-provider';
import type { Db } from './db.js';
import { isStorableText, toJsonb } from './hash.js';
import { deleteForClient } from './oidc.js';
import { type Run, retryDeadlocks } from './sql.js';

/**
 * `clients`: RFC 7591 metadata by client id (ids are public). oidc-provider looks the client up on every request,
 * so rows are cached for {@link CLIENT_CACHE_MS}: a change made on this instance applies at once, one made on
 * another instance within that time.
 */
export const CLIENT_CACHE_MS = 2000;

const FIND = { name: 'client_find', text: 'SELECT metadata FROM clients WHERE client_id = $1' };

export function clients(db: Db, run: Run) {
  const cache = new Map<string, { at: number; row: AdapterPayload | undefined }>();
  const forget = (id?: string) => (id === undefined ? cache.clear() : cache.delete(id));
  return {
    forget,
    async find(id: string): Promise<AdapterPayload | undefined> {
      if (!isStorableText(id)) return undefined;
      const cached = cache.get(id);
      if (cached && Date.now() - cached.at < CLIENT_CACHE_MS) return cached.row;
      const row = (await run<{ metadata: AdapterPayload }>(FIND, [id]))[0]?.metadata;
      if (cache.size > 10_000) cache.clear();
      cache.set(id, { at: Date.now(), row });
      return row;
    },
    /** Inserts a client; false when the id is taken. */
    async insert(id: string, metadata: Record<string, unknown>): Promise<boolean> {
      const inserted = await db('clients')
        .insert({ client_id: id, metadata: toJsonb(metadata) })
        .onConflict('client_id')
        .ignore()
        .returning('client_id');
      forget(id);
      return inserted.length > 0;
    },
    /** Replaces an existing client's metadata; false when there is no such client. */
    async replace(id: string, metadata: Record<string, unknown>): Promise<boolean> {
      const updated = await db('clients')
        .update({ metadata: toJsonb(metadata) })
        .where({ client_id: id })
        .returning('client_id');
      forget(id);
      return updated.length > 0;
    },
    async upsert(id: string, metadata: Record<string, unknown>): Promise<void> {
      await db('clients')
        .insert({ client_id: id, metadata: toJsonb(metadata) })
        .onConflict('client_id')
        .merge(['metadata']);
      forget(id);
    },
    async list(): Promise<Array<Record<string, unknown>>> {
      const rows = await db('clients').select<{ metadata: Record<string, unknown> }[]>('metadata').orderBy('created_at');
      return rows.map((r) => r.metadata);
    },
    async count(): Promise<number> {
      const r = await db('clients').count<{ n: string }[]>({ n: '*' });
      return Number(r[0]?.n ?? 0);
    },
    /** Removes a client and everything issued to it; false when there was no such client. */
    async delete(id: string): Promise<boolean> {
      if (!isStorableText(id)) return false;
      return retryDeadlocks(() =>
        db.transaction(async (trx) => {
          // RETURNING rather than the affected count: knex-pglite reports DELETE counts differently from pg.
          const gone = await trx('clients').delete().where({ client_id: id }).returning('client_id');
          forget(id);
          if (gone.length === 0) return false;
          await deleteForClient(trx, id);
          await trx('consents').delete().where({ client_id: id });
          await trx('client_registrations').delete().where({ client_id: id });
          return true;
        }),
      );
    },
  };
}

export type Clients = ReturnType<typeof clients>;
