import { AsyncLocalStorage } from 'node:async_hooks';

/** The request a log line belongs to (ops/telemetry.ts runs each request in it); every line it writes carries the id. */
export const requestContext = new AsyncLocalStorage<{ requestId: string }>();

/**
 * Structured JSON logs, one line per event, on stdout. Callers pass facts, never secrets: codes, tokens,
 * cookies and passwords are not logged anywhere in Handoff. Lines written while serving a request carry its id.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const ORDER: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export function createLogger(level: Level, write: (line: string) => void = (l) => process.stdout.write(`${l}\n`)): Logger {
  const at =
    (lvl: Exclude<Level, 'silent'>) =>
    (msg: string, fields: Record<string, unknown> = {}) => {
      if (ORDER[lvl] < ORDER[level]) return;
      const requestId = requestContext.getStore()?.requestId;
      const out: Record<string, unknown> = {
        time: new Date().toISOString(),
        level: lvl,
        ...(requestId ? { requestId } : {}),
        msg,
        ...fields,
      };
      const err = fields.err;
      if (err instanceof Error) out.err = { name: err.name, message: err.message, stack: err.stack };
      write(JSON.stringify(out));
    };
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
