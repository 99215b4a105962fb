import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, issuerFor, loadConfig } from '../../src/config/load.js';

describe('configuration', () => {
  it('has working defaults', () => {
    const c = loadConfig({});
    assert.equal(c.port, 3000);
    assert.equal(c.adminPort, 3001);
    assert.equal(c.adminHost, '127.0.0.1');
    assert.equal(c.dataDir, './data');
    assert.equal(c.deviceCodeTtl, 600);
    assert.equal(c.databaseUrl, undefined);
    assert.equal(issuerFor(c, 3000), 'http://localhost:3000');
  });

  it('reads the environment', () => {
    const c = loadConfig({
      PORT: '8080',
      ISSUER: 'https://id.example.com/',
      DATABASE_URL: 'postgres://u@h/db',
      PROXY: 'true',
      NODE_ENV: 'production',
    });
    assert.equal(c.port, 8080);
    assert.equal(c.proxy, true);
    assert.equal(c.env, 'production');
    assert.equal(issuerFor(c, 8080), 'https://id.example.com');
  });

  it('reads SMTP_URL and MAIL_FROM into mail, names them when wrong, and takes the old name `account` for `accounts`', () => {
    const c = loadConfig({ SMTP_URL: 'smtp://mail.example.com:587', MAIL_FROM: 'Sign-in <id@example.com>' });
    assert.equal(c.mail.smtpUrl, 'smtp://mail.example.com:587');
    assert.equal(c.mail.from, 'Sign-in <id@example.com>');
    assert.equal(c.mail.maxQueued, 1000, 'the other mail settings keep their defaults');
    assert.equal(loadConfig({}).mail.smtpUrl, null);
    assert.equal(loadConfig({}).accounts.signup, false, 'sign-up is off by default');
    assert.throws(() => loadConfig({ SMTP_URL: 'http://mail.example.com' }), /SMTP_URL: must start with smtp:\/\/ or smtps:\/\//);
    const old = loadConfig({}, { account: { freshSignInSeconds: 120 } } as never);
    assert.equal(old.accounts.freshSignInSeconds, 120);
    assert.equal(old.accounts.linkSeconds, 3600);
  });

  it('refuses to start with a message naming every bad setting', () => {
    assert.throws(
      () => loadConfig({ PORT: 'eighty', DATABASE_URL: 'mysql://x', ISSUER: 'not a url', LOG_LEVEL: 'loud' }),
      (err: unknown) => {
        assert.ok(err instanceof ConfigError);
        const text = err.message;
        for (const name of ['PORT', 'DATABASE_URL', 'ISSUER', 'LOG_LEVEL']) assert.match(text, new RegExp(`${name}( must|:)`));
        assert.equal(err.problems.length, 4);
        return true;
      },
    );
  });

  it('says what is wrong with a number the way a person would', () => {
    const problems = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (err) {
        if (err instanceof ConfigError) return err.problems;
      }
      return [];
    };
    assert.deepEqual(problems({ DEVICE_CODE_TTL: '-5' }), ['DEVICE_CODE_TTL must be at least 60 (got -5)']);
    assert.deepEqual(problems({ DEVICE_CODE_TTL: 'ten' }), ['DEVICE_CODE_TTL must be a whole number (got "ten")']);
    assert.deepEqual(problems({ DEVICE_CODE_TTL: '90.5' }), ['DEVICE_CODE_TTL must be a whole number (got 90.5)']);
    assert.deepEqual(problems({ PORT: '70000' }), ['PORT must be at most 65535 (got 70000)']);
    assert.deepEqual(problems({ PROXY: 'maybe' }), ['PROXY must be true or false (got "maybe")']);
  });

  it('merges CONFIG_FILE, nested settings included, and refuses one it cannot read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'handoff-config-'));
    const file = join(dir, 'extra.json');
    writeFileSync(file, JSON.stringify({ device: { pollInterval: 7 }, port: 4000 }));
    const c = loadConfig({ CONFIG_FILE: file, PORT: '4100' });
    assert.equal(c.device.pollInterval, 7);
    assert.equal(c.device.maxFailedCodesPerIp, 10, 'the rest of the nested object keeps its defaults');
    assert.equal(c.port, 4100, 'the environment wins over files');
    assert.throws(() => loadConfig({ CONFIG_FILE: join(dir, 'missing.json') }), /CONFIG_FILE: cannot read/);
    rmSync(dir, { recursive: true, force: true });
  });

  it('names nested file settings by path', () => {
    assert.throws(
      () => loadConfig({}, { login: { maxFailuresPerAccountAndAddress: 0, maxFailuresPerAddress: 1, windowSeconds: 1 } }),
      /login\.maxFailuresPerAccountAndAddress (must|:)/,
    );
  });
});
