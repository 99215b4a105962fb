import type { Db } from './db.js';

/** `consents`: the scopes an account allowed a relying party, remembered until removed on the account page. */
export interface Consent {
  client_id: string;
  scopes: string[];
  granted_at: Date | string;
  updated_at: Date | string;
}

export function consents(db: Db) {
  return {
    async find(accountId: string, clientId: string): Promise<string[]> {
      const row = await db('consents').where({ account_id: accountId, client_id: clientId }).first('scopes');
      return (row?.scopes as string[] | undefined) ?? [];
    },
    /** Adds scopes to what the account allowed the client (one statement: the union, whatever ran before). */
    async remember(accountId: string, clientId: string, scopes: string[]): Promise<void> {
      if (!scopes.length) return;
      await db.raw(
        `INSERT INTO consents (account_id, client_id, scopes) VALUES (?, ?, ?::text[])
         ON CONFLICT (account_id, client_id) DO UPDATE
           SET scopes = ARRAY(SELECT DISTINCT unnest(consents.scopes || EXCLUDED.scopes) ORDER BY 1), updated_at = now()`,
        [accountId, clientId, scopes],
      );
    },
    async list(accountId: string): Promise<Consent[]> {
      return db('consents')
        .where({ account_id: accountId })
        .orderBy('updated_at', 'desc')
        .select('client_id', 'scopes', 'granted_at', 'updated_at');
    },
    /** Forgets a consent; true when there was one. */
    async forget(accountId: string, clientId: string): Promise<boolean> {
      // RETURNING rather than the affected count: knex-pglite reports DELETE counts differently from pg.
      return (await db('consents').where({ account_id: accountId, client_id: clientId }).delete().returning('client_id')).length > 0;
    },
  };
}
