import assert from 'node:assert/strict';
import { errors } from 'oidc-provider';
import { createAdapterFactory } from '../../src/oidc/adapter.js';
import { sha256 } from '../../src/store/hash.js';
import { createStore } from '../../src/store/index.js';
import { purgeExpired } from '../../src/store/purge.js';
import { resetDb, sharedDb } from '../helpers/db.js';
import { ageRows } from '../helpers/fixtures.js';

describe('oidc-provider adapter on the store', () => {
  let adapter: ReturnType<ReturnType<typeof createAdapterFactory>>;
  let db: Awaited<ReturnType<typeof sharedDb>>;
  const factory = () => createAdapterFactory(createStore(db));

  beforeEach(async () => {
    db = await sharedDb();
    await resetDb(db);
    adapter = factory()('AccessToken');
  });

  it('upserts, finds, and destroys by id, storing only the hash of the id', async () => {
    await adapter.upsert('tok-1', { jti: 'tok-1', kind: 'AccessToken', accountId: 'a', grantId: 'g1', exp: 9e9 }, 60);
    const found = await adapter.find('tok-1');
    assert.equal(found?.jti, 'tok-1');
    assert.equal(found?.accountId, 'a');
    const row = await db('oidc_store').first();
    assert.equal(row.key_hash, sha256('tok-1'));
    assert.ok(!JSON.stringify(row).includes('tok-1'));
    await adapter.upsert('tok-1', { jti: 'tok-1', kind: 'AccessToken', accountId: 'b', grantId: 'g1' }, 60);
    assert.equal((await adapter.find('tok-1'))?.accountId, 'b', 'upsert replaces');
    await adapter.destroy('tok-1');
    assert.equal(await adapter.find('tok-1'), undefined);
    assert.equal(await adapter.find('never'), undefined);
  });

  it('keeps models apart', async () => {
    await adapter.upsert('same', { jti: 'same', accountId: 'x' }, 60);
    assert.equal(await factory()('RefreshToken').find('same'), undefined);
  });

  it('consumes grant models exactly once; a second consume is invalid_grant', async () => {
    const codes = factory()('DeviceCode');
    await codes.upsert('dc', { jti: 'dc', userCode: 'BCDFGHJK', exp: 9e9 }, 600);
    await codes.consume('dc');
    assert.equal(typeof (await codes.find('dc'))?.consumed, 'number');
    await assert.rejects(codes.consume('dc'), (err: unknown) => err instanceof errors.InvalidGrant);
  });

  it('finds device codes by user code (hashed) and addresses them by handle afterwards', async () => {
    const codes = factory()('DeviceCode');
    await codes.upsert('device-secret', { jti: 'device-secret', userCode: 'BCDFGHJK', params: { scope: 'openid' } }, 600);
    const row = await db('oidc_store').first();
    assert.equal(row.user_code_hash, sha256('BCDFGHJK'));
    assert.ok(!JSON.stringify(row).includes('BCDFGHJK'));
    const byCode = await codes.findByUserCode('BCDFGHJK');
    assert.equal(byCode?.userCode, 'BCDFGHJK');
    assert.equal(byCode?.jti, `~${sha256('device-secret')}`);
    // Saving through the handle updates the same row and keeps the user code hash.
    await codes.upsert(byCode?.jti as string, { ...byCode, accountId: 'acc' }, 600);
    assert.equal((await codes.find('device-secret'))?.accountId, 'acc');
    assert.equal((await codes.findByUserCode('BCDFGHJK'))?.accountId, 'acc');
    assert.equal(await codes.findByUserCode('ZZZZZZZZ'), undefined);
  });

  it('finds sessions by uid and hashes the session id held by interactions', async () => {
    const sessions = factory()('Session');
    await sessions.upsert('sess-cookie', { jti: 'sess-cookie', uid: 'uid-1', accountId: 'a' }, 600);
    assert.equal((await sessions.findByUid('uid-1'))?.accountId, 'a');
    assert.equal(await sessions.findByUid('uid-2'), undefined);
    const interactions = factory()('Interaction');
    await interactions.upsert('int-1', { jti: 'int-1', session: { uid: 'uid-1', cookie: 'sess-cookie', accountId: 'a' } } as never, 600);
    assert.ok(!JSON.stringify(await db('oidc_store').select()).includes('sess-cookie'));
  });

  it('revokes a grant: its tokens are deleted, its codes stay as consumed', async () => {
    const rt = factory()('RefreshToken');
    const codes = factory()('DeviceCode');
    await adapter.upsert('at', { jti: 'at', grantId: 'G' }, 60);
    await rt.upsert('rt', { jti: 'rt', grantId: 'G' }, 60);
    await codes.upsert('dc-g', { jti: 'dc-g', grantId: 'G', userCode: 'BCDFGHJM' }, 60);
    await adapter.upsert('other', { jti: 'other', grantId: 'H' }, 60);
    // oidc-provider revokes model by model, as here.
    for (const model of ['AccessToken', 'RefreshToken', 'AuthorizationCode', 'DeviceCode']) await factory()(model).revokeByGrantId('G');
    assert.equal(await adapter.find('at'), undefined);
    assert.equal(await rt.find('rt'), undefined);
    assert.equal(typeof (await codes.find('dc-g'))?.consumed, 'number');
    assert.ok(await adapter.find('other'));
  });

  it('purges expired rows in batches after the grace period, leaving live ones', async () => {
    for (let i = 0; i < 25; i += 1) await adapter.upsert(`old-${i}`, { jti: `old-${i}` }, 60);
    await adapter.upsert('live', { jti: 'live' }, 600);
    await ageRows(db, 7200, { except: sha256('live') });
    assert.equal(await purgeExpired(db, { batchSize: 10, graceSeconds: 3600 }), 25);
    assert.ok(await adapter.find('live'));
  });

  it("polls pace a live code only, and a code's pacing is purged with the code's lifetime", async () => {
    const store = createStore(db);
    const codes = factory()('DeviceCode');
    const exp = Math.floor(Date.now() / 1000) + 600;
    await codes.upsert('dc-p', { jti: 'dc-p', userCode: 'BCDFGHJP', clientId: 'tv', exp }, 600);
    assert.equal(await store.deviceCodes.poll(sha256('never-minted'), 5), undefined);
    assert.equal(await db('device_pacing').first(), undefined, 'an unknown code paces nothing');
    assert.equal((await store.deviceCodes.poll(sha256('dc-p'), 5))?.accepted, true, 'the first poll');
    assert.equal((await store.deviceCodes.poll(sha256('dc-p'), 5))?.accepted, false, 'one sooner than the interval');
    assert.equal((await db('device_pacing').first('poll_interval'))?.poll_interval, 10);
    await purgeExpired(db, { batchSize: 10, graceSeconds: 3600 });
    assert.ok(await db('device_pacing').first(), 'a live code keeps its pacing');
    await db('device_pacing').update({ expires_at: db.raw(`now() - interval '2 hours'`) });
    await purgeExpired(db, { batchSize: 10, graceSeconds: 3600 });
    assert.equal(await db('device_pacing').first(), undefined, 'gone with the code');
  });

  it('decides a device code once: a second claim, an approval over another, a decline over a claim or a decision are refused as "already used"', async () => {
    const codes = factory()('DeviceCode');
    const usedAlready = (err: unknown) => err instanceof Error && err.name === 'AlreadyUsedError';
    const base = { jti: 'dc-d', userCode: 'BCDFGHJM', clientId: 'tv', exp: 9e9 };
    await codes.upsert('dc-d', base, 600);
    await codes.upsert('dc-d', { ...base, inFlight: true }, 600);
    await assert.rejects(codes.upsert('dc-d', { ...base, inFlight: true }, 600), usedAlready, 'a second claim');
    await assert.rejects(codes.upsert('dc-d', { ...base, error: 'access_denied' }, 600), usedAlready, 'a decline read before the claim');
    await codes.upsert('dc-d', { ...base, inFlight: true, accountId: 'a', grantId: 'g1' }, 600);
    await assert.rejects(
      codes.upsert('dc-d', { ...base, inFlight: true, accountId: 'a', grantId: 'g2' }, 600),
      usedAlready,
      'another grant',
    );
    await codes.upsert('dc-d', { ...base, inFlight: true, accountId: 'a', grantId: 'g1', sid: 's' }, 600);
    assert.equal((await codes.find('dc-d'))?.grantId, 'g1', 'the approving request may save its own approval again');

    const other = { ...base, jti: 'dc-e', userCode: 'BCDFGHJN' };
    await codes.upsert('dc-e', other, 600);
    await codes.upsert('dc-e', { ...other, error: 'access_denied' }, 600);
    await assert.rejects(codes.upsert('dc-e', { ...other, inFlight: true }, 600), usedAlready, 'a claim after a decline');
    await assert.rejects(
      codes.upsert('dc-e', { ...other, inFlight: true, accountId: 'a', grantId: 'g3' }, 600),
      usedAlready,
      'an approval after a decline',
    );
    assert.equal((await codes.find('dc-e'))?.error, 'access_denied');
  });

  it('a row saved at or past its end still expires and is purged (only a model without a lifetime never expires)', async () => {
    await adapter.upsert('late', { jti: 'late' }, -5);
    await adapter.upsert('forever', { jti: 'forever' }, Number.POSITIVE_INFINITY);
    const rows = await db('oidc_store').select('key_hash', 'expires_at');
    const at = (id: string) => rows.find((r) => r.key_hash === sha256(id))?.expires_at;
    assert.notEqual(at('late'), null, 'a late save has an end');
    assert.equal(at('forever'), null);
    await ageRows(db, 7200, { except: sha256('forever') });
    assert.equal(await purgeExpired(db, { batchSize: 10, graceSeconds: 3600 }), 1);
  });

  it('treats a handle as a row address for device codes and sessions only; for other models it is an unknown id', async () => {
    const codes = factory()('DeviceCode');
    await codes.upsert('dc2', { jti: 'dc2', userCode: 'BCDFGHJL' }, 600);
    const handle = `~${sha256('dc2')}`;
    assert.ok(await codes.find(handle), 'our own pages address a code found by its user code this way');
    await adapter.upsert('at-2', { jti: 'at-2' }, 600);
    assert.equal(await adapter.find(`~${sha256('at-2')}`), undefined, 'an access token is never found by its hash');
  });
});
