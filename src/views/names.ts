import type { Store } from '../store/index.js';

/** "A***e": enough for the person who approved to recognise themselves, not enough to identify them. */
export function maskName(name: string): string {
  const chars = [...name.trim()];
  if (chars.length === 0) return '';
  if (chars.length <= 2) return `${chars[0]}*`;
  return `${chars[0]}***${chars[chars.length - 1]}`;
}

/** The masked display name of an account (its name, else its username), for waiting screens. */
export async function maskedAccountName(store: Store, accountId: string): Promise<string | undefined> {
  const user = await store.users.byId(accountId);
  const name = user?.name ?? user?.username;
  return name ? maskName(name) : undefined;
}
