import assert from 'node:assert/strict';
import { Phone } from '../helpers/phone.js';
import { deviceAuthorization, redeem, startTestServer } from '../helpers/server.js';

/**
 * One reading of a device code per request (oidc/handed-rows.ts): the statement of Handoff's rule that reads the code
 * (the token endpoint's poll, the phone's guess by user code) hands its row to oidc-provider's own lookup of it in the
 * same request, so the library does not read it again, and the phone's approval is recorded and announced in one
 * statement. The counts are the statements the store sent,
 * on either engine; each is listed, so a change in what a step costs shows up here as well as in `bench:costs`.
 */
describe('one reading of a device code per request', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    server = await startTestServer();
  });
  after(async () => {
    await server.close();
  });

  async function statements<T>(fn: () => Promise<T>): Promise<[T, number]> {
    const before = server.store.statementCount();
    const out = await fn();
    return [out, server.store.statementCount() - before];
  }

  it("a phone's decision and the redemption read the code once each, and the tokens work", async () => {
    const phone = new Phone();
    // The first approval signs the phone in; the second is the one counted.
    await phone.approveDevice((await deviceAuthorization(server.publicUrl, 'tv', 'openid')).verification_uri_complete);
    const dc = await deviceAuthorization(server.publicUrl, 'tv', 'openid profile');
    const [page, open] = await statements(() => phone.request(dc.verification_uri_complete));
    assert.ok(page.html.includes('name="confirm"'), 'the confirmation page');
    // The session (with the account the page names), the guess (finds the code and marks it scanned, announcing it on
    // PostgreSQL), the session (its form's xsrf secret).
    assert.equal(open, 3, 'statements of opening the link');
    const statusUri = (dc as typeof dc & { status_uri: string }).status_uri;
    const state = (await (await fetch(statusUri, { headers: { accept: 'application/json' } })).json()) as { state: string };
    assert.equal(state.state, 'scanned', 'the device learns its code was opened');

    const [done, decision] = await statements(() => phone.submit(page, { confirm: 'yes' }));
    assert.equal(done.status, 200);
    assert.ok(done.html.includes('Alice Example'), 'the success page names the account');
    // The guess (finds the code, counts nothing), the session (with its account), the library's in-flight mark, the
    // grant, the approved code with its approval and audit entry (and its announcement, on PostgreSQL), the session.
    assert.equal(decision, 6, 'statements of the decision');

    const [tokens, redemption] = await statements(() => redeem(server.publicUrl, dc.device_code));
    assert.equal(tokens.status, 200, JSON.stringify(tokens.json));
    // The poll (reads the decided code, its grant and its account), the consume, the token, the code marked answered.
    assert.equal(redemption, 4, 'statements of the redemption');
    const me = await fetch(`${server.publicUrl}/me`, { headers: { authorization: `Bearer ${tokens.json.access_token}` } });
    assert.equal(me.status, 200);
    assert.equal((await redeem(server.publicUrl, dc.device_code)).json.error, 'invalid_grant', 'single use');
  });

  it('a row handed to the library is never an older one than a write of the same request: a decline is recorded', async () => {
    const phone = new Phone();
    await phone.approveDevice((await deviceAuthorization(server.publicUrl, 'tv', 'openid')).verification_uri_complete);
    const dc = await deviceAuthorization(server.publicUrl, 'tv', 'openid');
    await phone.approveDevice(dc.verification_uri_complete, 'deny');
    assert.equal((await redeem(server.publicUrl, dc.device_code)).json.error, 'access_denied');
    // Opened again after the decline, the code reads as decided (the library's own read after its own write).
    const again = await phone.request(dc.verification_uri_complete);
    assert.ok(!again.html.includes('name="confirm"'), 'no second decision');
  });

  it('an issuance slower than the interval: a second presentation meanwhile is a lost race and revokes nothing', async () => {
    const slow = await startTestServer({ device: { pollInterval: 1 } });
    try {
      const dc = await deviceAuthorization(slow.publicUrl, 'tv', 'openid');
      await new Phone().approveDevice(dc.verification_uri_complete);
      // Fault injection: the winner's issuance stalls 2.5 s after its consume, before the tokens are written.
      const oidc = slow.store.oidc as { consume: (model: string, key: string) => Promise<boolean> };
      const consume = oidc.consume.bind(oidc);
      let stalled: () => void = () => {};
      const consumed = new Promise<void>((r) => {
        stalled = r;
      });
      let once = true;
      oidc.consume = async (model, key) => {
        const won = await consume(model, key);
        if (once && model === 'DeviceCode') {
          once = false;
          stalled();
          await new Promise((r) => setTimeout(r, 2500));
        }
        return won;
      };
      const winner = redeem(slow.publicUrl, dc.device_code);
      await consumed;
      await new Promise((r) => setTimeout(r, 1200));
      const loser = await redeem(slow.publicUrl, dc.device_code);
      const w = await winner;
      oidc.consume = consume;
      assert.equal(w.status, 200);
      assert.equal(loser.json.error, 'invalid_grant');
      const me = await fetch(`${slow.publicUrl}/me`, { headers: { authorization: `Bearer ${w.json.access_token}` } });
      assert.equal(me.status, 200, 'the tokens the winner was answered work');
    } finally {
      await slow.close();
    }
  });
});
