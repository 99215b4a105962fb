import type { Account } from 'oidc-provider';
import type { Store } from '../store/index.js';

/** oidc-provider's `findAccount`: standard claims by scope come from the users table (claims config). */
export async function findAccount(store: Store, sub: string): Promise<Account | undefined> {
  const user = await store.users.byId(sub);
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
