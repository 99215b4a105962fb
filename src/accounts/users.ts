import { randomUUID } from 'node:crypto';
import type { Db } from '../storage/db.js';
import { badRequest, conflict } from '../http/errors.js';
import { isStorableText } from '../storage/hash.js';
import { hashPassword, type ScryptParams } from './password.js';

export interface User {
  id: string;
  username: string;
  name: string | null;
  email: string | null;
  created_at: string;
}

export interface NewUser {
  username: string;
  password: string;
  name?: string | undefined;
  email?: string | undefined;
}

const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
const EMAIL = /^[^\s@<>"]{1,64}@[^\s@<>"]{1,189}\.[^\s@<>"]{1,63}$/;
const PUBLIC_COLUMNS = ['id', 'username', 'name', 'email', 'created_at'] as const;

function optionalText(input: Record<string, unknown>, field: string, max: number, pattern?: RegExp): string | undefined {
  const v = input[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length === 0 || v.length > max || /[\u0000-\u001f\u007f]/.test(v)) {
    throw badRequest(`${field} must be a non-empty string of at most ${max} printable characters`, field);
  }
  if (pattern && !pattern.test(v)) throw badRequest(`${field} is not valid`, field);
  return v;
}

/** Checks untrusted input (admin API JSON) and names the first bad field. */
export function parseNewUser(input: unknown): NewUser {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw badRequest('body must be a JSON object');
  const o = input as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!['username', 'password', 'name', 'email'].includes(key)) throw badRequest(`unknown field ${key}`, key);
  }
  if (typeof o.username !== 'string' || !USERNAME.test(o.username)) {
    throw badRequest('username must be 1-64 characters: letters, digits, and . _ @ - (starting with a letter or digit)', 'username');
  }
  if (typeof o.password !== 'string' || o.password.length < 8 || o.password.length > 1024) {
    throw badRequest('password must be a string of 8 to 1024 characters', 'password');
  }
  return {
    username: o.username,
    password: o.password,
    name: optionalText(o, 'name', 200),
    email: optionalText(o, 'email', 254, EMAIL),
  };
}

export async function createUser(db: Db, input: NewUser, params: ScryptParams): Promise<User> {
  const passwordHash = await hashPassword(input.password, params);
  const rows = await db('users')
    .insert({
      id: randomUUID(),
      username: input.username,
      password_hash: passwordHash,
      name: input.name ?? null,
      email: input.email ?? null,
    })
    .onConflict(db.raw('(lower(username))'))
    .ignore()
    .returning<User[]>([...PUBLIC_COLUMNS]);
  const user = rows[0];
  if (!user) throw conflict(`username ${input.username} is taken`, 'username');
  return user;
}

export async function listUsers(db: Db): Promise<User[]> {
  return db('users')
    .select<User[]>([...PUBLIC_COLUMNS])
    .orderBy('created_at');
}

export async function findUserById(db: Db, id: string): Promise<User | undefined> {
  if (!isStorableText(id)) return undefined;
  return db('users')
    .first<User | undefined>([...PUBLIC_COLUMNS])
    .where({ id });
}

/**
 * The row used for sign-in, including the hash; never leaves the accounts module. `canonical` is the form of
 * `canonicalUsername` (ASCII lower case), compared with the ASCII lower case of the stored username, so JavaScript
 * and SQL agree on every input.
 */
export async function findCredentials(db: Db, canonical: string): Promise<{ id: string; password_hash: string } | undefined> {
  if (!/^[\x21-\x7e]{1,128}$/.test(canonical) || canonical !== canonical.toLowerCase()) return undefined;
  return db('users')
    .first<{ id: string; password_hash: string } | undefined>('id', 'password_hash')
    .whereRaw('lower(username) = ?', [canonical]);
}

/** Deletes a user and everything the provider stored for them; returns false when there was no such user. */
export async function deleteUser(db: Db, id: string): Promise<boolean> {
  if (!isStorableText(id)) return false;
  return db.transaction(async (trx) => {
    // RETURNING rather than the affected count: knex-pglite reports DELETE counts differently from pg.
    const gone = await trx('users').delete().where({ id }).returning('id');
    if (gone.length === 0) return false;
    await trx('oidc_store').delete().whereRaw(`payload->>'accountId' = ?`, [id]);
    return true;
  });
}
