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

  it('treats a handle as a row address for device codes and sessions only; for other models it is an unknown id', async () => {
    const codes = factory()('DeviceCode');
    await codes.upsert('dc2', { jti: 'dc2', userCode: 'BCDFGHJL' }, 600);
    const handle = `~${sha256('dc2')}`;
    assert.ok(await codes.find(handle), 'our own pages address a code found by its user code this way');
    await adapter.upsert('at-2', { jti: 'at-2' }, 600);
    assert.equal(await adapter.find(`~${sha256('at-2')}`), undefined, 'an access token is never found by its hash');
  });
});
