import assert from 'node:assert/strict';
import { createLocalJWKSet, decodeProtectedHeader, type JSONWebKeySet, jwtVerify } from 'jose';
import { Phone } from '../helpers/phone.js';
import { adminFetch, deviceAuthorization, redeem, startTestServer } from '../helpers/server.js';

describe('signing keys', () => {
  let server: Awaited<ReturnType<typeof startTestServer>>;
  before(async () => {
    server = await startTestServer();
  });
  after(() => server.close());

  async function idToken(): Promise<string> {
    const dc = await deviceAuthorization(server.publicUrl, 'tv', 'openid');
    await new Phone().approveDevice(dc.verification_uri_complete);
    return String((await redeem(server.publicUrl, dc.device_code)).json.id_token);
  }
  const jwks = async () => (await (await fetch(`${server.publicUrl}/jwks`)).json()) as JSONWebKeySet;

  it('publishes RS256, ES256 and EdDSA public keys only', async () => {
    const keys = (await jwks()).keys;
    assert.deepEqual(keys.map((k) => k.alg).sort(), ['ES256', 'EdDSA', 'RS256']);
    for (const k of keys) assert.equal((k as { d?: string }).d, undefined, 'no private parts');
  });

  it('rotates: the new key signs, the old one stays published and old ID tokens still verify', async () => {
    const before = await idToken();
    const oldKid = decodeProtectedHeader(before).kid;
    const res = await adminFetch(server, 'POST', '/admin/keys/rotate');
    assert.equal(res.status, 200);
    const rotated = (await res.json()) as { active: string[]; retired: string[] };
    assert.ok(rotated.retired.includes(String(oldKid)));

    const after = await idToken();
    const newKid = decodeProtectedHeader(after).kid;
    assert.notEqual(newKid, oldKid);
    assert.ok(rotated.active.includes(String(newKid)));

    const set = await jwks();
    assert.equal(set.keys.length, 6, 'three new keys and three retired ones still published');
    for (const token of [before, after]) {
      await jwtVerify(token, createLocalJWKSet(set), { issuer: server.issuer, audience: 'tv' });
    }
  });
});
