import { randomUUID } from 'node:crypto';
import { badRequest, conflict } from '../http/errors.js';
import type { MessageKey } from '../views/i18n.js';
import type { Store } from '../store/index.js';
import type { User } from '../store/users.js';
import { hashPassword, type ScryptParams } from './password.js';

export type { User };

export interface NewUser {
  username: string;
  password: string;
  name?: string | undefined;
  email?: string | undefined;
}

export const USERNAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;
/**
 * A single plain address, as HTML's `input type=email` defines a valid one (WHATWG HTML 4.10.5.1.5): no display name,
 * no list, nothing a mail library would read as more than one recipient (`a@b.com,c@d.com`).
 */
export const EMAIL =
  /^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$/;

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

/** Creates a user (the password hashed with scrypt); 409 when the username is taken, case-insensitively. */
export async function createUser(store: Store, input: NewUser, params: ScryptParams): Promise<User> {
  const user = await store.users.insert({
    id: randomUUID(),
    username: input.username,
    passwordHash: await hashPassword(input.password, params),
    name: input.name ?? null,
    email: input.email ?? null,
    // An address an operator typed is taken as verified (the operator vouches for it).
    emailVerified: input.email !== undefined,
  });
  if (!user) throw conflict(`username ${input.username} is taken`, 'username');
  return user;
}

export interface UserChange {
  name?: string | null;
  email?: string | null;
  password?: string;
}

/** Checks an update (admin API JSON): `name`, `email` (null clears either) and `password`, nothing else. */
export function parseUserChange(input: unknown): UserChange {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw badRequest('body must be a JSON object');
  const o = input as Record<string, unknown>;
  for (const key of Object.keys(o)) {
    if (!['password', 'name', 'email'].includes(key)) throw badRequest(`unknown field ${key} (a username cannot change)`, key);
  }
  if (Object.keys(o).length === 0) throw badRequest('nothing to change: give name, email or password');
  if (o.password !== undefined && (typeof o.password !== 'string' || o.password.length < 8 || o.password.length > 1024)) {
    throw badRequest('password must be a string of 8 to 1024 characters', 'password');
  }
  return {
    ...(o.name === null ? { name: null } : o.name !== undefined ? { name: optionalText(o, 'name', 200) } : {}),
    ...(o.email === null ? { email: null } : o.email !== undefined ? { email: optionalText(o, 'email', 254, EMAIL) } : {}),
    ...(typeof o.password === 'string' ? { password: o.password } : {}),
  };
}

/** Applies a change (a new password is hashed with scrypt); undefined when there is no such user. */
export async function updateUser(store: Store, id: string, change: UserChange, params: ScryptParams): Promise<User | undefined> {
  return store.users.update(id, {
    ...(change.name !== undefined ? { name: change.name } : {}),
    ...(change.email !== undefined ? { email: change.email, emailVerified: change.email !== null } : {}),
    ...(change.password !== undefined ? { passwordHash: await hashPassword(change.password, params) } : {}),
  });
}

/** What a person typed to create an account (the sign-up page), checked; the first problem as a page message. */
export function parseSignup(
  fields: Record<string, unknown>,
  needPassword: boolean,
): { ok: true; username: string; email: string; password: string | undefined } | { ok: false; key: MessageKey } {
  const username = typeof fields.username === 'string' ? fields.username.trim() : '';
  const email = typeof fields.email === 'string' ? fields.email.trim() : '';
  const password = typeof fields.password === 'string' ? fields.password : '';
  // A username one chooses oneself holds no '@': it can never pass for an address ("Forgot password" by address).
  if (!USERNAME.test(username) || username.includes('@')) return { ok: false, key: 'signup.badUsername' };
  if (email.length > 254 || !EMAIL.test(email) || /[\u0000-\u001f\u007f]/.test(email)) return { ok: false, key: 'signup.badEmail' };
  if (needPassword && (password.length < 8 || password.length > 1024)) return { ok: false, key: 'signup.badPassword' };
  return { ok: true, username, email, password: needPassword ? password : undefined };
}

/**
 * An account a person made for themselves: its address unverified until the mailed link is used, and a password
 * (hashed with scrypt) or none (a passkey is added next). Undefined when the username is taken.
 */
export async function signUp(
  store: Store,
  input: { id?: string; username: string; email: string; password: string | undefined },
  params: ScryptParams,
): Promise<User | undefined> {
  return store.users.insert({
    id: input.id ?? randomUUID(),
    username: input.username,
    passwordHash: input.password === undefined ? null : await hashPassword(input.password, params),
    name: null,
    email: input.email,
    emailVerified: false,
  });
}
