import assert from 'node:assert/strict';
import { bothEngines, type Engine } from '../helpers/db.js';
import { ageAnswer } from '../helpers/fixtures.js';
import { Phone } from '../helpers/phone.js';
import { deviceAuthorization, heldRedeem, redeem, startTestServer } from '../helpers/server.js';

/**
 * Many token requests redeem one approved device code at the same instant: exactly one gets tokens, and they work;
 * every other gets invalid_grant, none a 5xx. A losing request must never revoke the winner's tokens (finding 9:
 * it did, on a freshly started instance). Runs on the shared database, and also on PGlite when that is PostgreSQL.
 */

describe('concurrent redemption of one device code', () => {
  let engines: Engine[] = [];
  let closeEngines = async () => {};
  before(async () => {
    ({ engines, close: closeEngines } = await bothEngines());
  });
  after(() => closeEngines());

  it('of 25 simultaneous requests on a freshly started instance exactly one gets tokens that work, every round, on every engine', async () => {
    for (const engine of engines) {
      const db = await engine.db();
      for (let round = 0; round < 6; round += 1) {
        const server = await startTestServer({}, db);
        try {
          const dc = await deviceAuthorization(server.publicUrl);
          await new Phone().approveDevice(dc.verification_uri_complete);
          const results = await Promise.all(Array.from({ length: 25 }, () => redeem(server.publicUrl, dc.device_code)));
          const statuses = results.map((r) => r.status);
          const label = `${engine.name} round ${round}: ${statuses.join(',')}`;
          assert.equal(statuses.filter((s) => s === 200).length, 1, `${label}: exactly one success`);
          assert.ok(
            results.filter((r) => r.status !== 200).every((r) => r.status === 400 && r.json.error === 'invalid_grant'),
            `${label}: losers get invalid_grant`,
          );
          const winner = results.find((r) => r.status === 200);
          const me = await fetch(`${server.publicUrl}/me`, { headers: { authorization: `Bearer ${winner?.json.access_token}` } });
          assert.equal(me.status, 200, `${label}: the winner's access token works after the race`);

          // Presented again after its answer (a poll interval later), the code is a replay: what it issued is revoked.
          await ageAnswer(db, dc.device_code, server.config.device.pollInterval + 1);
          assert.equal((await redeem(server.publicUrl, dc.device_code)).json.error, 'invalid_grant');
          const after = await fetch(`${server.publicUrl}/me`, { headers: { authorization: `Bearer ${winner?.json.access_token}` } });
          assert.equal(after.status, 401, `${label}: a replay after the answer revokes the tokens`);
        } finally {
          await server.close();
        }
      }
    }
  });

  it('a held request and a plain poll racing for the approval: exactly one gets tokens that work', async () => {
    const server = await startTestServer({ device: { pollInterval: 1 } });
    try {
      for (let round = 0; round < 4; round += 1) {
        const dc = await deviceAuthorization(server.publicUrl);
        const phone = new Phone();
        let page = await phone.request(dc.verification_uri_complete);
        const held = heldRedeem(server.publicUrl, dc.device_code, 10);
        await new Promise<void>((resolve) => {
          const check = () => (server.waits.active > 0 ? resolve() : setTimeout(check, 5));
          check();
        });
        page = await phone.submit(page, { confirm: 'yes' });
        if (page.html.includes('name="password"'))
          page = await phone.submit(page, { username: 'alice', password: 'correct horse battery staple' });
        const [a, b] = await Promise.all([held, redeem(server.publicUrl, dc.device_code)]);
        const ok = [a, b].filter((r) => r.status === 200);
        assert.equal(ok.length, 1, `round ${round}: ${a.status} ${JSON.stringify(a.json)} / ${b.status} ${JSON.stringify(b.json)}`);
        const loser = [a, b].find((r) => r.status !== 200);
        assert.ok(loser && ['invalid_grant', 'slow_down'].includes(String(loser.json.error)));
        const me = await fetch(`${server.publicUrl}/me`, { headers: { authorization: `Bearer ${ok[0]?.json.access_token}` } });
        assert.equal(me.status, 200);
      }
    } finally {
      await server.close();
    }
  });
});
