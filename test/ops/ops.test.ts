import assert from 'node:assert/strict';
import { createLogger } from '../../src/log.js';
import { Phone } from '../helpers/phone.js';
import { adminFetch, deviceAuthorization, PASSWORD, redeem, startTestServer } from '../helpers/server.js';

describe('operations: health, metrics, logs, audit, proxy', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  const lines: Array<Record<string, unknown>> = [];
  let raw = '';
  before(async () => {
    const log = createLogger('debug', (line) => {
      raw += `${line}\n`;
      lines.push(JSON.parse(line) as Record<string, unknown>);
    });
    server = await startTestServer({ logLevel: 'debug' }, undefined, log);
  });
  after(() => server.close());

  it('/healthz and /readyz on the admin port', async () => {
    const health = await fetch(`${server.adminUrl}/healthz`);
    assert.equal(health.status, 200);
    const ready = await fetch(`${server.adminUrl}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(await ready.json(), { status: 'ready', checks: { database: true, migrations: true, events: true } });
    assert.equal((await fetch(`${server.publicUrl}/healthz`)).status, 404, 'not on the public port');
  });

  it('logs one JSON line per request with a request id, and never a code, token, cookie or password', async () => {
    const dc = await deviceAuthorization(server.publicUrl);
    const phone = new Phone();
    await phone.approveDevice(dc.verification_uri_complete);
    const tokens = await redeem(server.publicUrl, dc.device_code);
    const res = await fetch(`${server.publicUrl}/me`, {
      headers: { authorization: `Bearer ${tokens.json.access_token}`, 'x-request-id': 'trace-abc-123' },
    });
    assert.equal(res.headers.get('x-request-id'), 'trace-abc-123');
    const requests = lines.filter((l) => l.msg === 'request');
    assert.ok(requests.length >= 8);
    for (const l of requests) assert.match(String(l.requestId), /^[\w.-]{8,64}$/);
    assert.ok(requests.some((l) => l.requestId === 'trace-abc-123' && l.route === '/me' && l.status === 200));
    assert.ok(requests.some((l) => l.route === '/token'));
    const secrets = [
      dc.device_code,
      dc.user_code,
      dc.user_code.replace('-', ''),
      String(tokens.json.access_token),
      String(tokens.json.refresh_token),
      PASSWORD,
      ...phone.cookies.values(),
    ];
    for (const s of secrets) assert.ok(!raw.includes(s), `a secret reached the logs: ${s.slice(0, 6)}…`);
  });

  it('writes pino JSON lines with time, level and msg, and redacts credential fields that slip into a log call', () => {
    const out: string[] = [];
    const log = createLogger('info', (line) => out.push(line));
    log.debug('not at this level');
    log.info('a fact', { route: '/token', password: 'hunter2', nested: { device_code: 'abc', kept: 1 } });
    log.error('failed', { err: new Error('boom') });
    assert.equal(out.length, 2);
    const first = JSON.parse(out[0] as string) as Record<string, unknown>;
    assert.match(String(first.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(
      { level: first.level, msg: first.msg, route: first.route, password: first.password, nested: first.nested },
      { level: 'info', msg: 'a fact', route: '/token', password: '[redacted]', nested: { device_code: '[redacted]', kept: 1 } },
    );
    assert.ok(!out[0]?.includes('hunter2'));
    const second = JSON.parse(out[1] as string) as { level: string; err: { name: string; message: string } };
    assert.deepEqual([second.level, second.err.name, second.err.message], ['error', 'Error', 'boom']);
  });

  it('counts requests, handoffs by outcome and open waits in Prometheus format', async () => {
    const denied = await deviceAuthorization(server.publicUrl);
    await new Phone().approveDevice(denied.verification_uri_complete, 'deny');
    const text = await (await fetch(`${server.adminUrl}/metrics`)).text();
    assert.match(text, /handoff_http_requests_total\{route="\/device\/auth",method="POST",status="200"\} \d+/);
    assert.match(text, /handoff_outcomes_total\{kind="device",outcome="approved"\} [1-9]/);
    assert.match(text, /handoff_outcomes_total\{kind="device",outcome="denied"\} [1-9]/);
    assert.match(text, /handoff_waits_current\{kind="held"\} 0/);
    assert.match(text, /handoff_http_request_duration_seconds_bucket/);
    assert.match(text, /process_resident_memory_bytes/);
  });

  it('writes approvals, denials and revocations to the audit trail, listed by the admin API', async () => {
    const dc = await deviceAuthorization(server.publicUrl);
    const phone = new Phone();
    await phone.approveDevice(dc.verification_uri_complete);
    assert.equal((await redeem(server.publicUrl, dc.device_code)).status, 200);
    const devices = await phone.request(`${server.publicUrl}/account/devices`);
    assert.match(devices.html, /data-approval=/);
    await phone.revokeOnAccount(server.publicUrl);
    const events = (await (await adminFetch(server, 'GET', '/admin/audit?limit=10')).json()) as Array<Record<string, unknown>>;
    const actions = events.map((e) => e.action);
    assert.deepEqual(actions.slice(0, 2), ['device.revoked', 'device.approved']);
    assert.ok(actions.includes('device.denied'));
    const approved = events.find((e) => e.action === 'device.approved') as Record<string, unknown>;
    assert.equal(approved.account_id, server.userId);
    assert.equal(approved.client_id, 'tv');
    assert.match(String(approved.device_ip), /127\.0\.0\.1|::1/);
    assert.match(String(approved.actor_ip), /127\.0\.0\.1|::1/);
    assert.ok(approved.at);
  });

  it('ignores X-Forwarded-For unless behind a configured proxy', async () => {
    const spoofed = await fetch(`${server.publicUrl}/device/auth`, {
      method: 'POST',
      body: new URLSearchParams({ client_id: 'tv', scope: 'openid' }),
      headers: { 'x-forwarded-for': '198.51.100.9' },
    });
    const code = (await spoofed.json()) as { verification_uri_complete: string };
    const page = await new Phone().request(code.verification_uri_complete);
    assert.doesNotMatch(page.html, /198\.51\.100\.9/);

    const proxied = await startTestServer({ proxy: true, proxyHops: 1 });
    try {
      const res = await fetch(`${proxied.publicUrl}/device/auth`, {
        method: 'POST',
        body: new URLSearchParams({ client_id: 'tv', scope: 'openid' }),
        headers: { 'x-forwarded-for': '203.0.113.50, 198.51.100.9' },
      });
      const dc = (await res.json()) as { verification_uri_complete: string };
      const p = await new Phone().request(dc.verification_uri_complete);
      assert.match(p.html, /data-field="ip">198\.51\.100\.9</, 'the address our one trusted proxy saw, not what the client claimed');
    } finally {
      await proxied.close();
    }
  });
});
