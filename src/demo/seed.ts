import { randomBytes } from 'node:crypto';
import type Provider from 'oidc-provider';
import { createUser } from '../accounts/users.js';
import { createClient } from '../admin/clients.js';
import type { Config } from '../config/schema.js';
import type { Store } from '../store/index.js';

export const DEMO_CLIENT_ID = 'demo-device';
export const DEMO_USERNAME = 'demo';

/** The demo TV: a public client of the device grant (also used by /demo/tv and the terminal demo device). */
export const DEMO_CLIENT = {
  client_id: DEMO_CLIENT_ID,
  client_name: 'Handoff demo TV',
  token_endpoint_auth_method: 'none',
  grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
  response_types: [],
  redirect_uris: [],
};

/**
 * The demo TV with number matching (`/demo/tv`, `npm run demo:device -- --match`): once the code is opened on a phone
 * the TV shows a number, and the phone asks which one before it approves.
 */
export const DEMO_MATCHING_CLIENT_ID = 'demo-tv';
export const DEMO_MATCHING_CLIENT = {
  ...DEMO_CLIENT,
  client_id: DEMO_MATCHING_CLIENT_ID,
  client_name: 'Handoff demo TV (number matching)',
  handoff_number_matching: true,
};

/**
 * First start outside production: a demo user and two public device clients. Returns the demo password (shown once)
 * or undefined when nothing was created. A data directory from before the number-matching client gets that client.
 */
export async function seedDemo(config: Config, store: Store, provider: Provider): Promise<string | undefined> {
  if (config.env === 'production') return undefined;
  const fresh = (await store.clients.count()) === 0;
  if ((fresh || (await store.clients.find(DEMO_CLIENT_ID))) && !(await store.clients.find(DEMO_MATCHING_CLIENT_ID)))
    await createClient(store, provider, { ...DEMO_MATCHING_CLIENT });
  if (!fresh) return undefined;
  const password = randomBytes(9).toString('base64url');
  await createUser(store, { username: DEMO_USERNAME, password, name: 'Demo User', email: 'demo@example.com' }, config.scrypt);
  await createClient(store, provider, { ...DEMO_CLIENT });
  return password;
}

/** The console note on how to try the device flow. */
export function demoBanner(h: { issuer: string; adminUrl: string }, password: string | undefined): string {
  const base = h.issuer;
  const gty = 'urn:ietf:params:oauth:grant-type:device_code';
  return [
    '',
    `Handoff is running: ${base} (admin API on ${h.adminUrl})`,
    '',
    password
      ? `Demo account created: username "${DEMO_USERNAME}", password "${password}" (shown only now)`
      : `Demo account: username "${DEMO_USERNAME}" (its password was printed at first start)`,
    `Demo device clients: ${DEMO_CLIENT_ID}, and ${DEMO_MATCHING_CLIENT_ID} with number matching (${base}/demo/tv, npm run demo:device -- --match)`,
    '',
    'Try the device flow:',
    `  1. curl -s -d client_id=${DEMO_CLIENT_ID} -d 'scope=openid profile email offline_access' ${base}/device/auth`,
    '  2. Open verification_uri_complete from the answer in a browser, sign in as demo and approve.',
    `  3. curl -s -d client_id=${DEMO_CLIENT_ID} -d grant_type=${gty} -d device_code=<device_code from step 1> ${base}/token`,
    '',
  ].join('\n');
}
