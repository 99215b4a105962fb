import { readFileSync } from 'node:fs';
import { tokenFile } from '../admin/token.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { AdminError } from './admin-client.js';
import { parseArgs } from 'node:util';
import { COMMANDS, type Command, helpFor } from './commands.js';

/**
 * `npm run --silent cli -- <noun> <verb> [--options]`: prints JSON on stdout; errors as JSON on stderr with a
 * non-zero exit; usage errors (unknown command or flag, missing option, a count that is not a whole number above 0) as text with the command's help, exit 2. Talks to the admin API of a running Handoff (ADMIN_HOST/ADMIN_PORT, or --admin-url).
 */
function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((n) => n.length));
  return `usage: npm run --silent cli -- <command> [options]   (--help after a command for its options)\n\n${Object.entries(COMMANDS)
    .map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`)
    .join('\n')}\n`;
}

/** Parses one command's options strictly: an unknown flag, a missing value or a missing required option is an error. */
function optionsOf(name: string, cmd: Command, argv: string[]) {
  const declared = Object.fromEntries(Object.keys(cmd.options ?? {}).map((o) => [o, { type: 'string' as const }]));
  const flags = Object.fromEntries(Object.keys(cmd.flags ?? {}).map((o) => [o, { type: 'boolean' as const }]));
  const { values: parsedValues, positionals } = parseArgs({
    args: argv,
    options: { ...declared, ...flags, 'admin-url': { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    strict: true,
    allowPositionals: true,
  });
  const values = parsedValues as Record<string, string | boolean | undefined>;
  if (positionals.length) throw new UsageError(`unexpected argument ${positionals[0]}\n\n${helpFor(name, cmd)}`);
  if (values.help) return { help: true as const, values };
  for (const [o, d] of Object.entries(cmd.options ?? {})) {
    const value = values[o];
    if (d.required && typeof value !== 'string') throw new UsageError(`--${o} is required\n\n${helpFor(name, cmd)}`);
    if (d.count && typeof value === 'string' && !isCount(value))
      throw new UsageError(`--${o} must be a whole number above 0 (got ${JSON.stringify(value)})\n\n${helpFor(name, cmd)}`);
  }
  return { help: false as const, values };
}

class UsageError extends Error {}

/** Digits only, above zero, exact as a JSON number: what `count` options accept. */
const isCount = (value: string) => /^[0-9]+$/.test(value) && Number(value) > 0 && Number.isSafeInteger(Number(value));

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  const name = argv.slice(0, 2).join(' ');
  const cmd = COMMANDS[name];
  if (!cmd) {
    const asked = argv.length === 0 || argv[0] === '--help' || argv[0] === '-h' || argv[0] === 'help';
    process.stderr.write(`${asked ? '' : `unknown command: ${argv.slice(0, 2).join(' ')}\n\n`}${usage()}`);
    return asked ? 0 : 2;
  }
  let parsed: ReturnType<typeof optionsOf>;
  try {
    parsed = optionsOf(name, cmd, argv.slice(2));
  } catch (err) {
    const message = err instanceof UsageError ? err.message : `${(err as Error).message}\n\n${helpFor(name, cmd)}`;
    process.stderr.write(`${message}\n`);
    return 2;
  }
  if (parsed.help) {
    process.stdout.write(`${helpFor(name, cmd)}\n`);
    return 0;
  }
  const opts = parsed.values;
  const config = loadConfig(process.env);
  const adminUrl = typeof opts['admin-url'] === 'string' ? opts['admin-url'] : undefined;
  const base = adminUrl || `http://${config.adminHost.includes(':') ? `[${config.adminHost}]` : config.adminHost}:${config.adminPort}`;
  const result = await cmd.run({ base, token: adminToken(config) }, opts);
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  return 0;
}

/** ADMIN_TOKEN, or the token Handoff wrote to its data directory on first start (DATA_DIR/admin-token). */
function adminToken(config: ReturnType<typeof loadConfig>): string {
  if (config.adminToken) return config.adminToken;
  const file = tokenFile(config.dataDir);
  try {
    const token = readFileSync(file, 'utf8').trim();
    if (token) return token;
  } catch {
    // reported below
  }
  throw new Error(`no admin token: set ADMIN_TOKEN, or run the CLI with the DATA_DIR of the running Handoff (${file} not readable)`);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const body =
      err instanceof AdminError
        ? err.body
        : { error: err instanceof ConfigError ? 'invalid_configuration' : 'error', error_description: (err as Error).message };
    process.stderr.write(`${JSON.stringify(body)}\n`);
    process.exit(1);
  },
);
