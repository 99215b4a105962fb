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
  /**
   * Options taking a value (`--name value` or `--name=value`), each with its help; `required` ones must be given;
   * `count` ones must be a whole number above zero (checked before anything is sent: `Number('10x')` is NaN, which
   * JSON sends as null, and null means "no limit" to the admin API).
   */
  options?: Record<string, { help: string; required?: boolean; count?: boolean }>;
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
  'identity-providers add': {
    summary:
      'Add an upstream OpenID Provider people may sign in with ("Continue with NAME"); prints the redirect URI to register there. The client secret is asked for (hidden), or read from standard input; --public for none.',
    options: {
      ...id('identity provider'),
      name: { help: 'what "Continue with NAME" says', required: true },
      issuer: { help: "the upstream's issuer URL (https; http only on localhost)", required: true },
      'client-id': { help: 'the client id Handoff has at the upstream', required: true },
      scopes: { help: 'space-separated (default: "openid email profile")' },
    },
    flags: {
      public: { help: 'no client secret (a public client: PKCE only)' },
      'link-verified-email': { help: "an upstream's verified email signs in to the account with that verified address" },
      'linked-only': { help: 'no account is made at a first sign-in: only accounts linked beforehand sign in' },
    },
    run: async (base, o) => {
      const secret = o.public === true ? undefined : await secretInput('Client secret');
      if (o.public !== true && !secret)
        throw new Error('no client secret given: type it at the prompt, pipe it on standard input, or pass --public');
      return adminRequest(base, 'POST', '/admin/identity-providers', {
        id: text(o, 'id'),
        name: text(o, 'name'),
        issuer: text(o, 'issuer'),
        client_id: text(o, 'client-id'),
        ...(secret ? { client_secret: secret } : {}),
        ...(typeof o.scopes === 'string' ? { scopes: o.scopes } : {}),
        ...(o['link-verified-email'] === true ? { link_verified_email: true } : {}),
        ...(o['linked-only'] === true ? { create_accounts: false } : {}),
      });
    },
  },
  'identity-providers list': {
    summary: 'List upstream OpenID Providers (with the redirect URI of each; never the secret).',
    run: (base) => adminRequest(base, 'GET', '/admin/identity-providers'),
  },
  'identity-providers update': {
    summary:
      'Change an upstream: the given JSON fields replace the stored ones (name, issuer, client_id, client_secret, scopes, enabled, create_accounts, link_verified_email).',
    options: { ...id('identity provider'), changes: { help: 'the fields to change, as JSON', required: true } },
    run: (base, o) => adminRequest(base, 'PATCH', path('/admin/identity-providers', o), json(text(o, 'changes') ?? '', 'the changes')),
  },
  'identity-providers disable': {
    summary: 'Stop offering an upstream at once (sign-ins through it in flight are refused; links are kept).',
    options: id('identity provider'),
    run: (base, o) => adminRequest(base, 'POST', `${path('/admin/identity-providers', o)}/disable`),
  },
  'identity-providers delete': {
    summary: 'Delete an upstream and every account link to it (the accounts stay).',
    options: id('identity provider'),
    run: async (base, o) => {
      await adminRequest(base, 'DELETE', path('/admin/identity-providers', o));
      return { deleted: o.id };
    },
  },
  'registration-tokens create': {
    summary:
      'Issue an initial access token a client registers itself with (RFC 7591, POST <ISSUER>/reg), under a policy; prints the token once.',
    options: {
      label: { help: 'who it is for (shown beside the clients it registers)', required: true },
      'grant-types': {
        help: 'space-separated grant types a client may have (default: "urn:ietf:params:oauth:grant-type:device_code refresh_token")',
      },
      scopes: { help: 'space-separated scopes a client may ask for (default: "openid")' },
      'device-flow-scopes': { help: 'space-separated device_flow_scopes set on every client it registers' },
      'max-clients': { help: 'how many clients it may register (default: no limit)', count: true },
      'expires-in': { help: 'seconds until it expires, 60 or more (default: never)', count: true },
    },
    flags: {
      'public-only': { help: 'only public clients (token_endpoint_auth_method none)' },
      'allow-choices': { help: "clients may choose qr_login, handoff_proximity, handoff_number_matching (else Handoff's defaults)" },
    },
    run: (base, o) => {
      const words = (name: string) => (typeof o[name] === 'string' ? (o[name] as string).split(' ').filter(Boolean) : undefined);
      const number = (name: string) => (typeof o[name] === 'string' ? Number(o[name]) : undefined);
      return adminRequest(base, 'POST', '/admin/registration-tokens', {
        label: text(o, 'label'),
        policy: {
          grant_types: words('grant-types') ?? ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
          ...(words('scopes') ? { scopes: words('scopes') } : {}),
          ...(words('device-flow-scopes') ? { device_flow_scopes: words('device-flow-scopes') } : {}),
          ...(o['public-only'] === true ? { public_only: true } : {}),
          ...(o['allow-choices'] === true ? { allow_choices: true } : {}),
        },
        ...(number('max-clients') !== undefined ? { max_clients: number('max-clients') } : {}),
        ...(number('expires-in') !== undefined ? { expires_in: number('expires-in') } : {}),
      });
    },
  },
  'registration-tokens list': {
    summary: 'List initial access tokens: policy, clients registered, expiry, revocation (never the token).',
    run: (base) => adminRequest(base, 'GET', '/admin/registration-tokens'),
  },
  'registration-tokens revoke': {
    summary: 'Revoke an initial access token: it registers no more clients (those it registered stay).',
    options: id('registration token'),
    run: async (base, o) => {
      await adminRequest(base, 'DELETE', path('/admin/registration-tokens', o));
      return { revoked: o.id };
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
