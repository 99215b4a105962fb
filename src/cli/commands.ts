import { readFileSync } from 'node:fs';
import { type AdminTarget, adminRequest } from './admin-client.js';
import { prompt } from './prompt.js';

/**
 * The CLI's commands, one row each: `<noun> <verb>`, its options (parsed by `node:util` `parseArgs`: unknown flags
 * are errors, `--help` prints the row's help) and what it sends to the admin API.
 */
export type Options = Record<string, string | boolean | undefined>;
export interface Command {
  summary: string;
  /** Options taking a value (`--name value` or `--name=value`), each with its help; `required` ones must be given. */
  options?: Record<string, { help: string; required?: boolean }>;
  /** Options that take no value (`--now`), each with its help. */
  flags?: Record<string, { help: string }>;
  run: (base: AdminTarget, opts: Options) => Promise<unknown>;
}

/** Standard input when it is piped; a prompt (hidden for a password) when it is a terminal. */
async function secretInput(question: string, opts: { confirm?: boolean } = {}): Promise<string> {
  if (!process.stdin.isTTY) {
    let text = '';
    try {
      text = readFileSync(0, 'utf8');
    } catch {
      // no standard input
    }
    return text.replace(/\r?\n$/, '');
  }
  const first = await prompt(`${question}: `, { hidden: true });
  if (opts.confirm && (await prompt(`${question} again: `, { hidden: true })) !== first) throw new Error('the two entries differ');
  return first;
}

const text = (o: Options, name: string) => (typeof o[name] === 'string' ? (o[name] as string) : undefined);

function json(textValue: string, what: string): unknown {
  try {
    return JSON.parse(textValue);
  } catch {
    throw new Error(`${what} must be JSON`);
  }
}

async function newPassword(): Promise<string> {
  const password = await secretInput('New password', { confirm: true });
  if (!password) throw new Error('no password given: type it at the prompt, or pipe it on standard input (echo "$PASSWORD" | ...)');
  return password;
}

const id = (kind: string) => ({ id: { help: `the ${kind}'s id`, required: true } });
const path = (base: string, o: Options) => `${base}/${encodeURIComponent(text(o, 'id') ?? '')}`;

export const COMMANDS: Record<string, Command> = {
  'users create': {
    summary: 'Create a user; the password is asked for (hidden), or read from standard input.',
    options: { username: { help: 'sign-in name', required: true }, name: { help: 'full name' }, email: { help: 'email address' } },
    run: async (base, o) => {
      const password = await newPassword();
      return adminRequest(base, 'POST', '/admin/users', {
        username: text(o, 'username'),
        password,
        ...(o.name ? { name: o.name } : {}),
        ...(o.email ? { email: o.email } : {}),
      });
    },
  },
  'users list': { summary: 'List users.', run: (base) => adminRequest(base, 'GET', '/admin/users') },
  'users update': {
    summary: "Change a user's name or email (an empty value clears it).",
    options: { ...id('user'), name: { help: 'full name' }, email: { help: 'email address' } },
    run: (base, o) => {
      const change: Record<string, string | null> = {};
      for (const field of ['name', 'email'])
        if (typeof o[field] === 'string') change[field] = o[field] === '' ? null : (o[field] as string);
      if (!Object.keys(change).length) throw new Error('nothing to change: give --name or --email');
      return adminRequest(base, 'PATCH', path('/admin/users', o), change);
    },
  },
  'users set-password': {
    summary: "Set a user's password (asked for, hidden, or read from standard input); every session of the user ends.",
    options: id('user'),
    run: async (base, o) => adminRequest(base, 'PATCH', path('/admin/users', o), { password: await newPassword() }),
  },
  'users sessions': {
    summary: "List a user's signed-in browser sessions (device, address, how, last use).",
    options: id('user'),
    run: (base, o) => adminRequest(base, 'GET', `${path('/admin/users', o)}/sessions`),
  },
  'users sign-out': {
    summary: 'End every session of a user at once (every browser signs in again).',
    options: id('user'),
    run: (base, o) => adminRequest(base, 'POST', `${path('/admin/users', o)}/sessions/end`),
  },
  'users delete': {
    summary: 'Delete a user and everything stored for them.',
    options: id('user'),
    run: async (base, o) => {
      await adminRequest(base, 'DELETE', path('/admin/users', o));
      return { deleted: o.id };
    },
  },
  'clients create': {
    summary: 'Register a client from RFC 7591 metadata (JSON, or on standard input); a secret is shown once.',
    options: { metadata: { help: 'the metadata as JSON' } },
    run: async (base, o) =>
      adminRequest(base, 'POST', '/admin/clients', json(text(o, 'metadata') ?? (await secretInput('Metadata (JSON)')), 'client metadata')),
  },
  'clients list': { summary: 'List clients.', run: (base) => adminRequest(base, 'GET', '/admin/clients') },
  'clients update': {
    summary: "Change a client's metadata: the given fields replace the stored ones (null removes one).",
    options: { ...id('client'), metadata: { help: 'the fields to change, as JSON', required: true } },
    run: (base, o) => adminRequest(base, 'PATCH', path('/admin/clients', o), json(text(o, 'metadata') ?? '', 'client metadata')),
  },
  'clients rotate-secret': {
    summary: 'Give a confidential client a new secret (shown once); the old one stops working at once.',
    options: id('client'),
    run: (base, o) => adminRequest(base, 'POST', `${path('/admin/clients', o)}/rotate-secret`),
  },
  'clients delete': {
    summary: 'Delete a client and everything issued to it.',
    options: id('client'),
    run: async (base, o) => {
      await adminRequest(base, 'DELETE', path('/admin/clients', o));
      return { deleted: o.id };
    },
  },
  'keys rotate': {
    summary: 'Rotate the signing keys (the old ones stay published until their tokens expire).',
    run: (base) => adminRequest(base, 'POST', '/admin/keys/rotate'),
  },
  'cookie-keys rotate': {
    summary: 'Add a cookie key that signs from now on; old ones keep verifying through a grace period (--now: not at all).',
    flags: { now: { help: 'a key leaked: drop every old key at once, signing everyone out on every instance' } },
    run: (base, o) => adminRequest(base, 'POST', '/admin/cookie-keys/rotate', { now: o.now === true }),
  },
  'keys rotate-cookies': {
    summary: 'The same as cookie-keys rotate (without --now).',
    run: (base) => adminRequest(base, 'POST', '/admin/cookie-keys/rotate', { now: false }),
  },
  'db migrate': { summary: 'Apply pending database migrations.', run: (base) => adminRequest(base, 'POST', '/admin/db/migrate') },
};

/** The usage line and option help of one command. */
export function helpFor(name: string, cmd: Command): string {
  const options = [
    ...Object.entries(cmd.options ?? {}).map(
      ([o, d]) => `  --${o} VALUE${' '.repeat(Math.max(1, 14 - o.length))}${d.help}${d.required ? ' (required)' : ''}`,
    ),
    ...Object.entries(cmd.flags ?? {}).map(([o, d]) => `  --${o}${' '.repeat(Math.max(1, 20 - o.length))}${d.help}`),
  ];
  return [
    `usage: npm run --silent cli -- ${name}${options.length ? ' [options]' : ''}`,
    '',
    cmd.summary,
    ...(options.length ? ['', ...options] : []),
    '  --admin-url URL       the admin API (default: ADMIN_HOST:ADMIN_PORT)',
    '  --help                this help',
  ].join('\n');
}
