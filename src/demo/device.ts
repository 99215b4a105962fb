import { decodeJwt } from 'jose';
import { issuerFor, loadConfig } from '../config/load.js';
import { pickLanguage, translator } from '../views/i18n.js';
import { DEMO_CLIENT_ID, DEMO_MATCHING_CLIENT_ID } from './seed.js';

/**
 * `npm run demo:device`: a TV in the terminal. It asks the running Handoff for a device code as the demo client,
 * prints the QR code and the user code, waits for the phone, and prints who signed in. It waits with held token
 * requests (`Prefer: wait=N`, answered the moment the phone decides); should the server not hold them, it falls
 * back to RFC 8628 polling: every `interval` seconds, 5 more after each `slow_down`.
 * The QR code is drawn in ANSI colours (black on white, any terminal theme); `-- --dark` or `-- --light` draw it
 * without colours for a dark or a light background. `-- --match` signs in as the demo client with number matching:
 * it follows the status stream and prints the number the phone will ask for.
 */
const GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
const UA = 'HandoffDemoTV/1.0 (terminal)';

type Json = Record<string, unknown>;

async function post(
  url: string,
  form: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Json; held: boolean }> {
  const res = await fetch(url, {
    method: 'POST',
    body: new URLSearchParams(form),
    headers: { 'user-agent': UA, accept: 'application/json', ...headers },
  });
  return { status: res.status, body: (await res.json()) as Json, held: res.headers.has('preference-applied') };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Prints the number the phone will ask for, once the status stream has one (number matching). */
async function followNumber(statusUri: string, signal: AbortSignal): Promise<void> {
  const res = await fetch(statusUri, { headers: { accept: 'text/event-stream', 'user-agent': UA }, signal });
  const decoder = new TextDecoder();
  let buffered = '';
  for await (const chunk of res.body ?? []) {
    buffered += decoder.decode(chunk as Uint8Array, { stream: true });
    for (const m of buffered.matchAll(/^data: (.*)$/gm)) {
      const event = JSON.parse(m[1] as string) as { state?: string; number?: number };
      if (event.number) {
        process.stdout.write(`\n${t('term.number')}\n\n    ${event.number}\n\n`);
        return;
      }
    }
    buffered = buffered.slice(buffered.lastIndexOf('\n') + 1);
  }
}

/** The terminal's language (LANG, e.g. zh_CN.UTF-8), as the pages read Accept-Language. */
let t = translator('en');

async function main(): Promise<number> {
  const config = loadConfig(process.env);
  t = translator(pickLanguage((config.terminalLocale ?? '').split('.')[0]?.replace('_', '-')));
  const issuer = issuerFor(config, config.port);
  const client = process.argv.includes('--match') ? DEMO_MATCHING_CLIENT_ID : DEMO_CLIENT_ID;
  let started: { status: number; body: Json };
  try {
    started = await post(`${issuer}/device/auth`, { client_id: client, scope: 'openid profile email offline_access' });
  } catch {
    process.stderr.write(`${t('term.unreachable', { issuer })}\n`);
    return 1;
  }
  if (started.status !== 200) {
    process.stderr.write(`${t('term.refused', { detail: JSON.stringify(started.body) })}\n`);
    return 1;
  }
  const s = started.body as {
    device_code: string;
    user_code: string;
    verification_uri: string;
    verification_uri_complete: string;
    verification_uri_complete_qr: string;
    status_uri: string;
    interval?: number;
    expires_in: number;
  };
  // ANSI colours draw the same code on light and dark themes; `--dark` / `--light` print it without colour codes.
  const theme = process.argv.includes('--light') ? 'light' : process.argv.includes('--dark') ? 'dark' : 'ansi';
  const qr = await (await fetch(`${s.verification_uri_complete_qr.replace(/\.svg$/, '.txt')}?theme=${theme}`)).text();
  process.stdout.write(`\n${qr}\n${t('term.scan', { uri: s.verification_uri })}\n\n    ${s.user_code}\n\n${t('term.waiting')}\n`);

  const stream = new AbortController();
  followNumber(s.status_uri, stream.signal).catch(() => {});
  try {
    return await wait(issuer, client, s);
  } finally {
    stream.abort();
  }
}

async function wait(issuer: string, client: string, s: { device_code: string; interval?: number; expires_in: number }): Promise<number> {
  let interval = s.interval ?? 5;
  let held = true;
  const deadline = Date.now() + s.expires_in * 1000;
  while (Date.now() < deadline) {
    if (!held) await sleep(interval * 1000);
    const r = await post(`${issuer}/token`, { grant_type: GRANT, device_code: s.device_code, client_id: client }, { prefer: 'wait=30' });
    held = r.held;
    const error = r.body.error;
    if (r.status === 200) {
      const claims = decodeJwt(String(r.body.id_token));
      const info = (await (await fetch(`${issuer}/me`, { headers: { authorization: `Bearer ${r.body.access_token}` } })).json()) as Json;
      const who = info.name ? `${info.name} (${info.preferred_username})` : String(info.preferred_username ?? claims.sub);
      process.stdout.write(`\n${t('term.signedIn', { who })}\n`);
      return 0;
    }
    if (error === 'authorization_pending') continue;
    if (error === 'slow_down') {
      interval += 5;
      continue;
    }
    if (error === 'access_denied') {
      process.stdout.write(`\n${t('term.declined')}\n`);
      return 2;
    }
    if (error === 'expired_token') break;
    process.stderr.write(`\n${t('term.unexpected', { detail: JSON.stringify(r.body) })}\n`);
    return 1;
  }
  process.stdout.write(`\n${t('term.expired')}\n`);
  return 2;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
