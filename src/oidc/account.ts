import type { IncomingMessage } from 'node:http';
import type { Account } from 'oidc-provider';
import type { Store } from '../store/index.js';
import type { User } from '../store/users.js';
import { takeHandedAccount } from './handed-rows.js';

/** The user `findAccount` loaded in a request: a page of the same request names them without reading them again. */
const loaded = new WeakMap<IncomingMessage, User>();

/**
 * oidc-provider's `findAccount`: standard claims by scope come from the users table (claims config). An address is
 * given only once it is confirmed (OpenID Connect Core 5.1 `email_verified`): an address someone typed at sign-up
 * and never confirmed is not theirs to claim, and a relying party that matches people by address must never see it.
 */
export async function findAccount(store: Store, sub: string, req?: IncomingMessage): Promise<Account | undefined> {
  // The token endpoint's poll may have read the account already, in the same request (oidc/handed-rows.ts).
  const user = (req && takeHandedAccount(req, sub)) || (await store.users.byId(sub));
  if (!user) return undefined;
  if (req) loaded.set(req, user);
  return {
    accountId: user.id,
    async claims() {
      return {
        sub: user.id,
        preferred_username: user.username,
        ...(user.name ? { name: user.name } : {}),
        ...(user.email && user.email_verified ? { email: user.email, email_verified: true } : {}),
      };
    },
  };
}

/** The user with `id`: the one oidc-provider loaded in this request (its `findAccount`), or read now. */
export async function userOf(store: Store, id: string, req: IncomingMessage): Promise<User | undefined> {
  const user = loaded.get(req);
  return user?.id === id ? user : store.users.byId(id);
}
