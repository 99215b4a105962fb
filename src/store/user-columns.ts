/** A user as every reader of `users` other than sign-in sees them (never the password hash). */
export interface User {
  id: string;
  username: string;
  name: string | null;
  email: string | null;
  /** Whether `email` was shown to belong to the user (a link mailed to it, an upstream's `email_verified`, an operator). */
  email_verified: boolean;
  created_at: string;
}

export const PUBLIC_COLUMNS = ['id', 'username', 'name', 'email', 'email_verified', 'created_at'] as const;

/**
 * The same columns read by another statement that joins `users` as `alias` (the token endpoint's poll, a session's
 * read), each named `<prefix><column>`; and the user taken back out of such a row (undefined when the join found none).
 */
export const userColumnsAs = (alias: string, prefix: string) => PUBLIC_COLUMNS.map((c) => `${alias}.${c} AS ${prefix}${c}`).join(', ');

export function userFromColumns(row: Record<string, unknown>, prefix: string): User | undefined {
  if (row[`${prefix}id`] === null || row[`${prefix}id`] === undefined) return undefined;
  return Object.fromEntries(PUBLIC_COLUMNS.map((c) => [c, row[`${prefix}${c}`]])) as unknown as User;
}
