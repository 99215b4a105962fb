import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Phone } from '../helpers/phone.js';
import { freePort, spawnHandoff, waitExit } from '../helpers/process.js';
import { DEVICE_GRANT, deviceAuthorization } from '../helpers/server.js';
import { CLI, onTerminal, run } from './run.js';

/**
 * The CLI's commands for upstream identity providers and registration tokens, run as an operator runs them against
 * a real Handoff process (production settings, embedded PGlite in a fresh DATA_DIR), and what users then see.
 */
describe('the CLI: identity providers and registration tokens', function () {
  this.timeout(90_000);
  let dir: string;
  let child: ChildProcess;
  let issuer: string;
  let env: Record<string, string>;
  const cli = async (args: string[], input?: string) => {
    const r = await run(CLI, args, env, input);
    return { ...r, json: () => JSON.parse(r.stdout) as unknown };
  };
  /** The sign-in page a phone reaches for a new device code of `clientId` (confirmed first, as a signed-out phone does). */
  const signInPage = async (clientId: string) => {
    const phone = new Phone();
    const d = await deviceAuthorization(issuer, clientId, 'openid');
    return (await phone.submit(await phone.request(d.verification_uri_complete), { confirm: 'yes' })).html;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'handoff-cli-'));
    const [port, adminPort] = [await freePort(), await freePort()];
    const h = await spawnHandoff({ DATA_DIR: dir, PORT: String(port), ADMIN_PORT: String(adminPort), NODE_ENV: 'production' });
    child = h.child;
    issuer = ((await (await fetch(`http://localhost:${port}/.well-known/openid-configuration`)).json()) as { issuer: string }).issuer;
    env = { ADMIN_PORT: String(adminPort), DATA_DIR: dir };
  });
  after(async () => {
    child.kill('SIGTERM');
    await waitExit(child);
    rmSync(dir, { recursive: true, force: true });
  });

  it('registration-tokens create refuses a malformed --max-clients or --expires-in (exit 2, nothing issued)', async () => {
    for (const [flag, value] of [
      ['--max-clients', '10x'],
      ['--max-clients', '0'],
      ['--max-clients', '1.5'],
      ['--max-clients', ''],
      ['--max-clients', '-1'],
      ['--max-clients', '99999999999999999999'],
      ['--expires-in', '1h'],
      ['--expires-in', '3600s'],
      ['--expires-in', '1e4'],
      ['--expires-in', '0'],
    ] as const) {
      const r = await cli(['registration-tokens', 'create', '--label', 'fleet', `${flag}=${value}`]);
      assert.equal(r.code, 2, `${flag}=${value}: ${r.stdout}${r.stderr}`);
      assert.ok(
        r.stderr.startsWith(`${flag} must be a whole number above 0 (got ${JSON.stringify(value)})\n`),
        `${flag}=${value}: ${r.stderr}`,
      );
      assert.match(r.stderr, /usage: npm run --silent cli -- registration-tokens create/);
      assert.equal(r.stdout, '');
    }
    assert.deepEqual((await cli(['registration-tokens', 'list'])).json(), [], 'no token was issued');
  });

  it('registration-tokens create, list and revoke; a client that registers itself with the token is listed with it', async () => {
    const made = await cli([
      'registration-tokens',
      'create',
      '--label',
      'CLI fleet',
      '--public-only',
      '--max-clients',
      '2',
      '--expires-in',
      '3600',
    ]);
    assert.equal(made.code, 0, made.stderr);
    const token = made.json() as { id: string; token: string; max_clients: number; expires_at: string; policy: { grant_types: string[] } };
    assert.equal(token.max_clients, 2);
    const lifetime = Date.parse(token.expires_at) - Date.now();
    assert.ok(lifetime > 3500_000 && lifetime <= 3600_000, `expires in an hour: ${token.expires_at}`);
    assert.deepEqual(token.policy.grant_types, [DEVICE_GRANT, 'refresh_token']);

    // A CLI registers itself as RFC 7591 3 describes, with the token as its bearer credential.
    const register = (name: string) =>
      fetch(`${issuer}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token.token}` },
        body: JSON.stringify({ client_name: name, grant_types: [DEVICE_GRANT], response_types: [], token_endpoint_auth_method: 'none' }),
      });
    const reg = await register('Fleet CLI');
    assert.equal(reg.status, 201, await reg.clone().text());
    const clientId = ((await reg.json()) as { client_id: string }).client_id;

    const clients = (await cli(['clients', 'list'])).json() as Array<{ client_id: string; registered_by?: Record<string, unknown> }>;
    const by = clients.find((c) => c.client_id === clientId)?.registered_by;
    assert.deepEqual([by?.token_id, by?.label], [token.id, 'CLI fleet'], JSON.stringify(clients));
    const listed = (await cli(['registration-tokens', 'list'])).json() as Array<Record<string, unknown>>;
    assert.equal(listed.length, 1);
    assert.equal(listed[0]?.id, token.id);
    assert.equal(listed[0]?.registered, 1);
    assert.equal(listed[0]?.revoked_at, null);
    assert.ok(!JSON.stringify(listed).includes(token.token), 'the token is shown once, at its creation');

    assert.deepEqual((await cli(['registration-tokens', 'revoke', '--id', token.id])).json(), { revoked: token.id });
    const revoked = (await cli(['registration-tokens', 'list'])).json() as Array<{ revoked_at: string | null }>;
    assert.ok(revoked[0]?.revoked_at, 'listed as revoked');
    assert.equal((await register('Late CLI')).status, 401, 'a revoked token registers no more clients');
    assert.ok(
      ((await cli(['clients', 'list'])).json() as Array<{ client_id: string }>).some((c) => c.client_id === clientId),
      'the client it registered stays',
    );
  });

  it('identity-providers add, list, update, disable and delete; the redirect URI is printed, the secret never', async () => {
    const secret = 'upstream-client-secret-never-shown';
    const device = await cli([
      'clients',
      'create',
      '--metadata',
      JSON.stringify({ client_id: 'tv', token_endpoint_auth_method: 'none', grant_types: [DEVICE_GRANT], response_types: [] }),
    ]);
    assert.equal(device.code, 0, device.stderr);

    const add = ['identity-providers', 'add', '--name', 'Corp SSO', '--issuer', 'https://login.corp.example', '--client-id', 'handoff'];
    const noSecret = await cli([...add, '--id', 'corp']);
    assert.equal(noSecret.code, 1);
    assert.match(noSecret.stderr, /no client secret given/);
    // From a pipe, as a script gives it.
    const added = await cli([...add, '--id', 'corp'], `${secret}\n`);
    assert.equal(added.code, 0, added.stderr);
    const corp = added.json() as Record<string, unknown>;
    assert.equal(corp.redirect_uri, `${issuer}/login/corp/callback`);
    assert.equal(corp.client_secret_set, true);
    assert.ok(!`${added.stdout}${added.stderr}`.includes(secret), 'the secret is not echoed');
    // On a terminal the secret is asked for and never shown as it is typed (a real pseudo-terminal, through script(1)).
    const typed = await onTerminal(
      `${process.execPath} ${CLI} ${[...add, '--id', 'corp2', '--name', 'Second SSO'].map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}`,
      env,
      [`${secret}-typed`],
      /Client secret: /g,
    );
    assert.equal(typed.code, 0, typed.output);
    assert.ok(typed.output.includes(`${issuer}/login/corp2/callback`), typed.output);
    assert.ok(!typed.output.includes(secret), `the secret is not echoed:\n${typed.output}`);

    const listed = await cli(['identity-providers', 'list']);
    const upstreams = listed.json() as Array<{ id: string; redirect_uri: string; enabled: boolean }>;
    assert.deepEqual(
      upstreams.map((u) => [u.id, u.redirect_uri, u.enabled]),
      [
        ['corp', `${issuer}/login/corp/callback`, true],
        ['corp2', `${issuer}/login/corp2/callback`, true],
      ],
    );
    assert.ok(!listed.stdout.includes(secret), 'the list never shows a secret');
    assert.match(await signInPage('tv'), /Continue with Corp SSO/);

    const updated = await cli(['identity-providers', 'update', '--id', 'corp', '--changes', '{"name":"Corp"}']);
    assert.equal((updated.json() as { name: string }).name, 'Corp', updated.stderr);
    const disabled = await cli(['identity-providers', 'disable', '--id', 'corp2']);
    assert.equal((disabled.json() as { enabled: boolean }).enabled, false, disabled.stderr);
    const page = await signInPage('tv');
    assert.match(page, /Continue with Corp</);
    assert.doesNotMatch(page, /Second SSO/, 'a disabled upstream is not offered');

    assert.deepEqual((await cli(['identity-providers', 'delete', '--id', 'corp'])).json(), { deleted: 'corp' });
    assert.deepEqual(
      ((await cli(['identity-providers', 'list'])).json() as Array<{ id: string }>).map((u) => u.id),
      ['corp2'],
    );
    const again = await cli(['identity-providers', 'delete', '--id', 'corp']);
    assert.equal(again.code, 1);
    assert.equal((JSON.parse(again.stderr) as { error: string }).error, 'not_found');
    assert.doesNotMatch(await signInPage('tv'), /Continue with/);
  });
});
