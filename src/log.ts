import { AsyncLocalStorage } from 'node:async_hooks';
import pino from 'pino';

/** The request a log line belongs to (ops/telemetry.ts runs each request in it); every line it writes carries the id. */
export const requestContext = new AsyncLocalStorage<{ requestId: string }>();

/**
 * Structured JSON logs through pino, one line per event, on stdout: `time` (ISO 8601), `level` (its name),
 * `requestId` while serving a request, `msg`, then the caller's fields. Callers pass facts, never secrets; should one
 * slip into a field anyway, the paths below are redacted by pino before the line is written.
 */
export type Level = 'debug' | 'info' | 'warn' | 'error' | 'silent';

export interface Logger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** Field names that carry a credential wherever they appear, at the top level or one object down. */
const SECRET_FIELDS = [
  'password',
  'token',
  'access_token',
  'refresh_token',
  'id_token',
  'device_code',
  'user_code',
  'code',
  'client_secret',
  'authorization',
  'cookie',
  'secret',
];
export const REDACTED_PATHS = SECRET_FIELDS.flatMap((f) => [f, `*.${f}`]);

export function createLogger(level: Level, write?: (line: string) => void): Logger {
  const destination = write
    ? { write: (chunk: string) => write(chunk.endsWith('\n') ? chunk.slice(0, -1) : chunk) }
    : pino.destination({ dest: 1, sync: true });
  const log = pino(
    {
      level,
      base: null,
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin: () => {
        const requestId = requestContext.getStore()?.requestId;
        return requestId ? { requestId } : {};
      },
      serializers: { err: (err: unknown) => (err instanceof Error ? { name: err.name, message: err.message, stack: err.stack } : err) },
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    },
    destination,
  );
  const at =
    (lvl: Exclude<Level, 'silent'>) =>
    (msg: string, fields: Record<string, unknown> = {}) =>
      log[lvl](fields, msg);
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
