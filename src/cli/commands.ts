import { readFileSync } from 'node:fs';
import { type AdminTarget, adminRequest } from './admin-client.js';

/**
 * The CLI's commands, one row each: `<noun> <verb>` → what it sends to the admin API. Options are `--name value`.
 */
export type Options = Record<string, string>;
type Command = { usage: string; run: (base: AdminTarget, opts: Options) => Promise<unknown> };

function readStdin(): string {
  try {
    return readFileSync(0, 'utf8');
  } catch {
    return '';
  }
}

function required(opts: Options, name: string): string {
  const v = opts[name];
  if (!v) throw new Error(`--${name} is required`);
  return v;
}

export const COMMANDS: Record<string, Command> = {
  'users create': {
    usage: 'users create --username NAME [--name "Full Name"] [--email ADDR]   (password on standard input)',
    run: (base, o) => {
      const password = readStdin().replace(/\r?\n$/, '');
      if (!password)
        throw new Error('give the password on standard input, e.g. echo "$PASSWORD" | npm run --silent cli -- users create ...');
      return adminRequest(base, 'POST', '/admin/users', {
        username: required(o, 'username'),
        password,
        ...(o.name ? { name: o.name } : {}),
        ...(o.email ? { email: o.email } : {}),
      });
    },
  },
  'users list': { usage: 'users list', run: (base) => adminRequest(base, 'GET', '/admin/users') },
  'users delete': {
    usage: 'users delete --id USER_ID',
    run: async (base, o) => {
      await adminRequest(base, 'DELETE', `/admin/users/${encodeURIComponent(required(o, 'id'))}`);
      return { deleted: o.id };
    },
  },
  'clients create': {
    usage: 'clients create --metadata \'{"client_name": ...}\'   (RFC 7591 JSON; or on standard input)',
    run: (base, o) => {
      const text = o.metadata ?? readStdin();
      let metadata: unknown;
      try {
        metadata = JSON.parse(text);
      } catch {
        throw new Error('client metadata must be JSON');
      }
      return adminRequest(base, 'POST', '/admin/clients', metadata);
    },
  },
  'clients list': { usage: 'clients list', run: (base) => adminRequest(base, 'GET', '/admin/clients') },
  'clients delete': {
    usage: 'clients delete --id CLIENT_ID',
    run: async (base, o) => {
      await adminRequest(base, 'DELETE', `/admin/clients/${encodeURIComponent(required(o, 'id'))}`);
      return { deleted: o.id };
    },
  },
  'keys rotate': { usage: 'keys rotate', run: (base) => adminRequest(base, 'POST', '/admin/keys/rotate') },
  'keys rotate-cookies': {
    usage: 'keys rotate-cookies   (new cookie key; old ones keep verifying through a grace period)',
    run: (base) => adminRequest(base, 'POST', '/admin/cookie-keys/rotate'),
  },
  'db migrate': { usage: 'db migrate', run: (base) => adminRequest(base, 'POST', '/admin/db/migrate') },
};

export function parseArgs(argv: string[]): { command: string; opts: Options } {
  const words: string[] = [];
  const opts: Options = {};
  for (let i = 0; i < argv.length; i += 1) {
    const a = argv[i] as string;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) opts[a.slice(2, eq)] = a.slice(eq + 1);
      else {
        opts[a.slice(2)] = argv[i + 1] ?? '';
        i += 1;
      }
    } else words.push(a);
  }
  return { command: words.slice(0, 2).join(' '), opts };
}
