import type { z } from 'zod';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Config, type ConfigOverrides, configSchema } from './schema.js';

/** Environment variables and the top-level setting each one sets. */
const ENV_KEYS: Record<string, { key: keyof Config; sub?: string; kind: 'string' | 'number' | 'boolean' }> = {
  NODE_ENV: { key: 'env', kind: 'string' },
  PORT: { key: 'port', kind: 'number' },
  ADMIN_PORT: { key: 'adminPort', kind: 'number' },
  ADMIN_HOST: { key: 'adminHost', kind: 'string' },
  ISSUER: { key: 'issuer', kind: 'string' },
  DATABASE_URL: { key: 'databaseUrl', kind: 'string' },
  DATA_DIR: { key: 'dataDir', kind: 'string' },
  LOG_LEVEL: { key: 'logLevel', kind: 'string' },
  PROXY: { key: 'proxy', kind: 'boolean' },
  PROXY_HOPS: { key: 'proxyHops', kind: 'number' },
  DEVICE_CODE_TTL: { key: 'deviceCodeTtl', kind: 'number' },
  ADMIN_TOKEN: { key: 'adminToken', kind: 'string' },
  LANG: { key: 'terminalLocale', kind: 'string' },
  SMTP_URL: { key: 'mail', sub: 'smtpUrl', kind: 'string' },
  MAIL_FROM: { key: 'mail', sub: 'from', kind: 'string' },
};

export class ConfigError extends Error {
  readonly problems: string[];
  constructor(problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

const configDir = new URL('../../../config/', import.meta.url);

function readJson(name: string | URL, required = false): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(typeof name === 'string' ? new URL(name, configDir) : name, 'utf8');
  } catch {
    if (required) throw new ConfigError([`CONFIG_FILE: cannot read ${String(name)}`]);
    return {};
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new ConfigError([`${String(name)}: must hold a JSON object`]);
    }
    return parsed as Record<string, unknown>;
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError([`${String(name)}: not valid JSON (${(err as Error).message})`]);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const prev = out[k];
    out[k] = isPlainObject(prev) && isPlainObject(v) ? merge(prev, v) : v;
  }
  return out;
}

function fromEnv(env: NodeJS.ProcessEnv): { values: Record<string, unknown>; names: Map<string, string> } {
  const values: Record<string, unknown> = {};
  const names = new Map<string, string>();
  for (const [name, { key, sub, kind }] of Object.entries(ENV_KEYS)) {
    const raw = env[name];
    if (raw === undefined || raw === '') continue;
    names.set(sub ? `${key}.${sub}` : key, name);
    let value: unknown = raw;
    if (kind === 'number') value = /^-?\d+(\.\d+)?$/.test(raw.trim()) ? Number(raw) : raw;
    else if (kind === 'boolean') value = raw === 'true' || raw === '1' ? true : raw === 'false' || raw === '0' ? false : raw;
    // A variable for a nested setting (SMTP_URL is mail.smtpUrl) sets that one key of its object.
    if (sub) values[key] = { ...(isPlainObject(values[key]) ? values[key] : {}), [sub]: value };
    else values[key] = value;
  }
  return { values, names };
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let at: unknown = root;
  for (const p of path) at = isPlainObject(at) ? at[String(p)] : undefined;
  return at;
}

/** One bad setting as a person would say it: "DEVICE_CODE_TTL must be a whole number of at least 60 (got -5)". */
function plainly(label: string, issue: z.core.$ZodIssue, value: unknown): string {
  const got = value === undefined ? '' : ` (got ${JSON.stringify(value)})`;
  if (issue.code === 'invalid_type' && issue.expected === 'number') return `${label} must be a whole number${got}`;
  if (issue.code === 'invalid_type' && issue.expected === 'boolean') return `${label} must be true or false${got}`;
  if (issue.code === 'invalid_type' && value === undefined) return `${label} is required`;
  const intFormat = issue.code === 'invalid_format' && /int/.test(String(issue.format));
  if (intFormat || (issue.code === 'invalid_type' && issue.expected === 'int')) return `${label} must be a whole number${got}`;
  if (issue.code === 'too_small' && issue.origin === 'number') {
    const positive = Number(issue.minimum) === 1;
    return positive ? `${label} must be a positive whole number${got}` : `${label} must be at least ${issue.minimum}${got}`;
  }
  if (issue.code === 'too_big' && issue.origin === 'number') return `${label} must be at most ${issue.maximum}${got}`;
  return `${label}: ${issue.message}${got}`;
}

/**
 * Merges `config/default.json`, `config/<NODE_ENV>.json`, `CONFIG_FILE`, the environment and `overrides` (in that order), then
 * validates the result once. Throws a {@link ConfigError} naming every bad setting.
 *
 * @example loadConfig(process.env, { port: 0 })
 */
export function loadConfig(env: NodeJS.ProcessEnv, overrides: ConfigOverrides = {}): Config {
  const envName = overrides.env ?? env.NODE_ENV ?? 'development';
  const { values, names } = fromEnv(env);
  // CONFIG_FILE: one more JSON file (any setting, nested ones too), merged after config/<NODE_ENV>.json.
  const extra = env.CONFIG_FILE ? readJson(pathToFileURL(resolve(env.CONFIG_FILE)), true) : {};
  const files = merge(merge(merge({ env: 'development' }, readJson('default.json')), readJson(`${envName}.json`)), extra);
  const merged = merge(merge(files, values), overrides as Record<string, unknown>);
  // `account` was the name of `accounts` before sign-up and recovery joined it; a settings file using it still works.
  if (isPlainObject(merged.account)) {
    merged.accounts = merge(isPlainObject(merged.accounts) ? merged.accounts : {}, merged.account);
    delete merged.account;
  }
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const top = String(issue.path[0] ?? '');
        const label = names.get(issue.path.slice(0, 2).join('.')) ?? names.get(top) ?? (issue.path.join('.') || '(root)');
        return plainly(label, issue, valueAt(merged, issue.path));
      }),
    );
  }
  return result.data;
}

/** The issuer a configuration implies: ISSUER, or http://localhost:<port actually bound>. */
export function issuerFor(config: Config, boundPort: number): string {
  return (config.issuer ?? `http://localhost:${boundPort}`).replace(/\/$/, '');
}
