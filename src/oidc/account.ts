import type { Account, KoaContextWithOIDC } from 'oidc-provider';
import { findUserById } from '../accounts/users.js';
import type { Db } from '../storage/db.js';

/** oidc-provider's `findAccount`: standard claims by scope come from the users table (claims config). */
export async function findAccount(db: Db, _ctx: KoaContextWithOIDC, sub: string): Promise<Account | undefined> {
  const user = await findUserById(db, sub);
  if (!user) return undefined;
  return {
    accountId: user.id,
    async claims() {
      return {
        sub: user.id,
        preferred_username: user.username,
        ...(user.name ? { name: user.name } : {}),
        ...(user.email ? { email: user.email } : {}),
      };
    },
  };
}
