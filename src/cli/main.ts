import { readFileSync } from 'node:fs';
import { tokenFile } from '../admin/token.js';
import { ConfigError, loadConfig } from '../config/load.js';
import { AdminError } from './admin-client.js';
import { COMMANDS, parseArgs } from './commands.js';

/**
 * `npm run --silent cli -- <noun> <verb> [--options]`: prints JSON on stdout; errors as JSON on stderr with a
 * non-zero exit. Talks to the admin API of a running Handoff (ADMIN_HOST/ADMIN_PORT, or --admin-url).
 */
async function main(): Promise<number> {
  const { command, opts } = parseArgs(process.argv.slice(2));
  const cmd = COMMANDS[command];
  if (!cmd) {
    process.stderr.write(
      `usage: npm run --silent cli -- <command>\n\n${Object.values(COMMANDS)
        .map((c) => `  ${c.usage}`)
        .join('\n')}\n`,
    );
    return 2;
  }
  const config = loadConfig(process.env);
  const base =
    opts['admin-url'] || `http://${config.adminHost.includes(':') ? `[${config.adminHost}]` : config.adminHost}:${config.adminPort}`;
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
