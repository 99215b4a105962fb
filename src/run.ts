import { setFlagsFromString } from 'node:v8';
import type { Config } from './config/schema.js';
import { ConfigError, loadConfig } from './config/load.js';
import { demoPlugin } from './demo/plugin.js';
import { demoBanner, seedDemo } from './demo/seed.js';
import { createLogger } from './log.js';
import { type Handoff, startHandoff } from './server.js';

/** Process entry: load config → start → print the demo → shut down cleanly on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`Handoff cannot start: ${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
  // The embedded database is for small machines: V8 is told to favour memory over speed (a smaller young
  // generation and a heap that grows slowly and is given back), which keeps an embedded instance under 200 MiB idle
  // and near it after a load (bench/README.md, "PGlite memory"). It is read by the heap as it runs, so setting it
  // here, before the app is built, takes effect. On PostgreSQL the process keeps V8's defaults (speed).
  if (!config.databaseUrl) setFlagsFromString('--optimize-for-size');
  const log = createLogger(config.logLevel);

  // Signals are handled from the first moment: one that arrives while starting stops the process as soon as the
  // start has finished (never in the middle of a migration).
  let handoff: Handoff | undefined;
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('shutting down', { signal });
    const force = setTimeout(() => process.exit(1), 10_000);
    force.unref();
    if (!handoff) return;
    handoff.close().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('shutdown failed', { err });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));

  const demo = config.env !== 'production';
  handoff = await startHandoff(config, { log, plugins: demo ? [demoPlugin()] : [] });
  if (stopping) {
    stopping = false;
    stop('SIGTERM');
    return;
  }
  if (demo) process.stdout.write(`${demoBanner(handoff, await seedDemo(config, handoff.store, handoff.provider()))}\n`);
  // Without SMTP_URL a developer can still try sign-up and recovery: the links are in this output (accounts/mail.ts).
  if (handoff.mailer.mode === 'log')
    process.stdout.write(
      'Mail: SMTP_URL is not set, so every message (address confirmations, password resets) is written to this log, link included.\n',
    );
  if (handoff.mailer.mode === 'off')
    log.warn('SMTP_URL is not set: no mail is sent, so "Forgot password" and address confirmation are off');
  log.info('listening', { issuer: handoff.issuer, admin: handoff.adminUrl, database: config.databaseUrl ? 'postgres' : 'pglite' });
}

main().catch((err: unknown) => {
  process.stderr.write(`Handoff failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
