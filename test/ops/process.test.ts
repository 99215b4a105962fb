import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, spawnHandoff, waitExit } from '../helpers/process.js';
import { Phone } from '../helpers/phone.js';
import { SseClient } from '../helpers/sse.js';
import { DEVICE_GRANT, PASSWORD, heldRedeem } from '../helpers/server.js';
import { CLI, MAIN, onTerminal, run, untilOutput } from './run.js';

/** Handoff as a user runs it: `node dist/src/main.js` on embedded PGlite in a fresh DATA_DIR, and the CLI. */
describe('the process, the demo and the CLI', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'handoff-proc-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses to start on bad settings, naming each one', async () => {
    const r = await run(MAIN, [], { PORT: 'x', DATABASE_URL: 'mysql://h/db', DATA_DIR: dir });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /PORT must be a whole number \(got "x"\)/);
    assert.match(r.stderr, /DATABASE_URL:/);
  });

  it('creates a demo on first start (development) with a copy-paste command, and the CLI manages it', async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const env = { DATA_DIR: dir, PORT: String(port), ADMIN_PORT: String(adminPort), NODE_ENV: 'development' };
    const h = await spawnHandoff(env);
    try {
      const out = h.output();
      const password = /username "demo", password "([^"]+)"/.exec(out)?.[1];
      assert.ok(password, out);
      assert.match(out, new RegExp(`curl -s -d client_id=demo-device .* http://localhost:${port}/device/auth`));

      // The CLI finds the admin token in the data directory Handoff wrote it to, with nothing else to set.
      const cliEnv = { ADMIN_PORT: String(adminPort), DATA_DIR: dir };
      const created = await run(
        CLI,
        ['users', 'create', '--username', 'carol', '--email', 'carol@example.com'],
        cliEnv,
        'a strong password\n',
      );
      assert.equal(created.code, 0, created.stderr);
      assert.equal(JSON.parse(created.stdout).username, 'carol');
      const list = await run(CLI, ['users', 'list'], cliEnv);
      assert.deepEqual(
        JSON.parse(list.stdout)
          .map((u: { username: string }) => u.username)
          .sort(),
        ['carol', 'demo'],
      );
      const dup = await run(CLI, ['users', 'create', '--username', 'carol'], cliEnv, 'another password\n');
      assert.equal(dup.code, 1);
      assert.equal(JSON.parse(dup.stderr).error, 'conflict');

      const client = await run(
        CLI,
        ['clients', 'create', '--metadata', '{"client_id":"app","redirect_uris":["https://app.example/cb"]}'],
        cliEnv,
      );
      assert.equal(JSON.parse(client.stdout).client_id, 'app');
      assert.ok(JSON.parse(client.stdout).client_secret);
      const clients = await run(CLI, ['clients', 'list'], cliEnv);
      assert.deepEqual(
        JSON.parse(clients.stdout)
          .map((c: { client_id: string }) => c.client_id)
          .sort(),
        ['app', 'demo-device', 'demo-tv'],
      );
      const renamed = await run(CLI, ['clients', 'update', '--id', 'app', '--metadata', '{"client_name":"The App"}'], cliEnv);
      assert.equal(JSON.parse(renamed.stdout).client_name, 'The App', renamed.stderr);
      const rotatedSecret = await run(CLI, ['clients', 'rotate-secret', '--id', 'app'], cliEnv);
      const secret = String(JSON.parse(rotatedSecret.stdout).client_secret);
      assert.ok(secret.length >= 43 && secret !== JSON.parse(client.stdout).client_secret, 'a new secret, shown once');
      assert.equal((await run(CLI, ['clients', 'delete', '--id', 'app'], cliEnv)).code, 0);

      const carol = String(JSON.parse(created.stdout).id);
      const updated = await run(CLI, ['users', 'update', '--id', carol, '--name', 'Carol Example'], cliEnv);
      assert.equal(JSON.parse(updated.stdout).name, 'Carol Example', updated.stderr);
      const piped = await run(CLI, ['users', 'set-password', '--id', carol], cliEnv, 'piped new password\n');
      assert.equal(piped.code, 0, piped.stderr);
      // On a terminal the password is asked for twice and never echoed (a real pseudo-terminal, through script(1)).
      const typed = await onTerminal(`${process.execPath} ${CLI} users set-password --id ${carol}`, cliEnv, [
        'typed password 1',
        'typed password 1',
      ]);
      assert.equal(typed.code, 0, typed.output);
      assert.match(typed.output, /New password: [\s\S]*New password again: /);
      assert.ok(!typed.output.includes('typed password 1'), 'the password is not echoed');
      const signIn = new Phone();
      const form = await signIn.request(`http://localhost:${port}/account/signin`);
      assert.match((await signIn.submit(form, { username: 'carol', password: 'typed password 1' })).html, /Signed in as Carol Example/);
      // An operator lists carol's sessions and signs her out everywhere; her browser signs in again.
      const sessions = JSON.parse((await run(CLI, ['users', 'sessions', '--id', carol], cliEnv)).stdout) as Array<{ method: string }>;
      assert.deepEqual(
        sessions.map((x) => x.method),
        ['password'],
      );
      assert.deepEqual(JSON.parse((await run(CLI, ['users', 'sign-out', '--id', carol], cliEnv)).stdout), { ended: 1 });
      assert.doesNotMatch((await signIn.request(`http://localhost:${port}/account/devices`)).html, /Signed in as Carol Example/);

      const unknownFlag = await run(CLI, ['users', 'list', '--bogus', 'x'], cliEnv);
      assert.equal(unknownFlag.code, 2);
      assert.match(unknownFlag.stderr, /Unknown option '--bogus'[\s\S]*usage: npm run --silent cli -- users list/);
      const missing = await run(CLI, ['users', 'delete'], cliEnv);
      assert.equal(missing.code, 2);
      assert.match(missing.stderr, /--id is required/);
      const help = await run(CLI, ['clients', 'update', '--help'], cliEnv);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /--metadata VALUE +the fields to change, as JSON \(required\)/);
      const rotated = await run(CLI, ['keys', 'rotate'], cliEnv);
      assert.equal(JSON.parse(rotated.stdout).retired.length, 3);
      const graceful = JSON.parse((await run(CLI, ['cookie-keys', 'rotate'], cliEnv)).stdout) as { keys: number };
      assert.ok(graceful.keys >= 2, 'old cookie keys keep verifying');
      const now = JSON.parse((await run(CLI, ['cookie-keys', 'rotate', '--now'], cliEnv)).stdout) as { keys: number; graceSeconds: number };
      assert.deepEqual(now, { keys: 1, graceSeconds: 0 }, '--now drops every old key');
      const migrated = await run(CLI, ['db', 'migrate'], cliEnv);
      assert.deepEqual(JSON.parse(migrated.stdout), { applied: [] });
      const usage = await run(CLI, ['frobnicate'], cliEnv);
      assert.equal(usage.code, 2);
      assert.match(usage.stderr, /users create/);
    } finally {
      h.child.kill('SIGTERM');
      assert.equal(await waitExit(h.child), 0, 'SIGTERM exits cleanly');
    }
    const unreachable = await run(CLI, ['users', 'list'], { ADMIN_PORT: String(adminPort), DATA_DIR: dir });
    assert.equal(unreachable.code, 1);
    assert.match(unreachable.stderr, /is Handoff running/);
  });

  it('without SMTP_URL says at start that mail is written to its log, and writes a password reset link there that works', async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    // Only these settings: no SMTP_URL from this shell or anywhere else.
    const h = await spawnHandoff({ DATA_DIR: dir, PORT: String(port), ADMIN_PORT: String(adminPort), NODE_ENV: 'development' });
    try {
      await untilOutput(
        h,
        /^Mail: SMTP_URL is not set, so every message \(address confirmations, password resets\) is written to this log, link included\.$/m,
      );
      const base = `http://localhost:${port}`;
      assert.equal((await fetch(`${base}/account/forgot`)).status, 200, '"Forgot password" is offered: its mail has somewhere to go');

      // An account whose address an operator set (so it counts) forgets its password; the reset link is in the log.
      const cliEnv = { ADMIN_PORT: String(adminPort), DATA_DIR: dir };
      const created = await run(
        CLI,
        ['users', 'create', '--username', 'dora', '--name', 'Dora', '--email', 'dora@example.com'],
        cliEnv,
        'the forgotten one\n',
      );
      assert.equal(created.code, 0, created.stderr);
      const phone = new Phone();
      const asked = await phone.submit(await phone.request(`${base}/account/forgot`), { identifier: 'dora@example.com' });
      assert.equal(asked.status, 200, asked.html.slice(0, 300));
      const [line] = await untilOutput(h, /^\{.*"msg":"mail not sent \(no SMTP_URL\): written here instead".*\}$/m);
      const mail = JSON.parse(line) as { to: string; link: string };
      assert.equal(mail.to, 'dora@example.com');
      assert.ok(mail.link.startsWith(`${base}/account/reset#`), mail.link);
      const reset = await phone.request(`${base}/account/reset`, {
        form: { token: new URL(mail.link).hash.slice(1), password: 'remembered at last', again: 'remembered at last' },
      });
      assert.equal(reset.status, 200, reset.html.slice(0, 300));
      const signIn = await phone.submit(await phone.request(`${base}/account/signin`), {
        username: 'dora',
        password: 'remembered at last',
      });
      assert.match(signIn.html, /Signed in as Dora/);
    } finally {
      h.child.kill('SIGTERM');
      assert.equal(await waitExit(h.child), 0);
    }
  });

  it('a second process on the same data directory refuses to start, naming it and its holder; the first loses nothing', async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const env = { DATA_DIR: dir, PORT: String(port), ADMIN_PORT: String(adminPort), NODE_ENV: 'production' };
    const first = await spawnHandoff(env);
    try {
      const token = readFileSync(join(dir, 'admin-token'), 'utf8').trim();
      assert.equal(statSync(join(dir, 'admin-token')).mode & 0o777, 0o600, 'the admin token file is readable by its owner only');
      const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      const created = await fetch(`http://127.0.0.1:${adminPort}/admin/users`, {
        method: 'POST',
        headers: auth,
        body: JSON.stringify({ username: 'kept', password: 'a long enough password' }),
      });
      assert.equal(created.status, 201);
      const [port2, adminPort2] = [await freePort(), await freePort()];
      const second = await run(MAIN, [], { ...env, PORT: String(port2), ADMIN_PORT: String(adminPort2) });
      assert.equal(second.code, 1);
      assert.ok(second.stderr.includes(dir), second.stderr);
      assert.ok(second.stderr.includes(`pid ${first.child.pid}`), second.stderr);
      const users = (await (await fetch(`http://127.0.0.1:${adminPort}/admin/users`, { headers: auth })).json()) as Array<{
        username: string;
      }>;
      assert.deepEqual(
        users.map((u) => u.username),
        ['kept'],
        'the first keeps serving, with its data',
      );
    } finally {
      first.child.kill('SIGTERM');
      await waitExit(first.child);
    }
    // After a clean stop the directory is free again.
    const again = await spawnHandoff(env);
    again.child.kill('SIGTERM');
    assert.equal(await waitExit(again.child), 0);
  });

  it('never creates demo accounts in production, and marks cookies Secure for an https issuer', async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const h = await spawnHandoff({
      DATA_DIR: dir,
      PORT: String(port),
      ADMIN_PORT: String(adminPort),
      NODE_ENV: 'production',
      ISSUER: 'https://id.example.com',
    });
    try {
      assert.doesNotMatch(h.output(), /demo/i);
      // In production no message is written to the log (it may be kept and read by others): without SMTP_URL the
      // features that need mail are off, and the log says so at start.
      await untilOutput(
        h,
        /"level":"warn".*"msg":"SMTP_URL is not set: no mail is sent, so \\"Forgot password\\" and address confirmation are off"/,
      );
      assert.doesNotMatch(h.output(), /^Mail: /m);
      assert.equal((await fetch(`http://127.0.0.1:${port}/account/forgot`)).status, 404);
      const token = readFileSync(join(dir, 'admin-token'), 'utf8').trim();
      const users = (await (
        await fetch(`http://127.0.0.1:${adminPort}/admin/users`, { headers: { authorization: `Bearer ${token}` } })
      ).json()) as unknown[];
      assert.deepEqual(users, []);
      const res = await fetch(`http://127.0.0.1:${port}/device`);
      assert.equal(res.status, 200);
      const cookies = res.headers.getSetCookie();
      assert.ok(cookies.length > 0);
      for (const c of cookies) assert.match(c, /;\s*secure/i, c);
    } finally {
      h.child.kill('SIGTERM');
      await waitExit(h.child);
    }
  });

  it('on SIGTERM answers held requests with authorization_pending, closes streams with a retry hint, and exits', async () => {
    const [port, adminPort] = [await freePort(), await freePort()];
    const h = await spawnHandoff({ DATA_DIR: dir, PORT: String(port), ADMIN_PORT: String(adminPort), NODE_ENV: 'production' });
    const token = readFileSync(join(dir, 'admin-token'), 'utf8').trim();
    const admin = (path: string, body: unknown) =>
      fetch(`http://127.0.0.1:${adminPort}${path}`, {
        method: 'POST',
        body: JSON.stringify(body),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      });
    assert.equal((await admin('/admin/users', { username: 'alice', password: PASSWORD })).status, 201);
    await admin('/admin/clients', { client_id: 'tv', token_endpoint_auth_method: 'none', grant_types: [DEVICE_GRANT], response_types: [] });
    const dc = (await (
      await fetch(`http://localhost:${port}/device/auth`, {
        method: 'POST',
        body: new URLSearchParams({ client_id: 'tv', scope: 'openid' }),
      })
    ).json()) as { device_code: string; status_uri: string };
    const stream = new SseClient(dc.status_uri);
    await stream.until(() => stream.events.length === 1);
    const held = heldRedeem(`http://localhost:${port}`, dc.device_code, 30);
    await new Promise((r) => setTimeout(r, 200));

    const t0 = Date.now();
    h.child.kill('SIGTERM');
    const answer = await held;
    assert.equal(answer.json.error, 'authorization_pending');
    await stream.until(() => stream.ended, 5000);
    assert.deepEqual(stream.retries.at(-1), 1000, 'the stream ends with a retry hint');
    assert.equal(await waitExit(h.child), 0);
    assert.ok(Date.now() - t0 < 10_000, 'exits within 10 seconds');
  });
});
