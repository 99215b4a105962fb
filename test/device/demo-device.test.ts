import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createClient } from '../../src/admin/clients.js';
import { DEMO_CLIENT, DEMO_MATCHING_CLIENT } from '../../src/demo/seed.js';
import { Phone } from '../helpers/phone.js';
import { decodeTerminalText } from '../helpers/qr.js';
import { startTestServer } from '../helpers/server.js';

const DEMO = fileURLToPath(new URL('../../src/demo/device.js', import.meta.url));

describe('npm run demo:device', () => {
  it('prints a text QR and the user code, and who signed in once the phone approves', async () => {
    const server = await startTestServer({
      device: { pollInterval: 1 },
    });
    try {
      await createClient(server.store, server.provider(), { ...DEMO_CLIENT });
      const port = new URL(server.issuer).port;
      const child = spawn(process.execPath, [DEMO], {
        env: { PATH: process.env.PATH ?? '', PORT: port },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        out += d.toString();
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      for (let i = 0; i < 100 && !out.includes('Waiting for your phone'); i += 1) await new Promise((r) => setTimeout(r, 100));
      const qr = out.slice(0, out.indexOf('Scan the code'));
      for (const theme of ['dark', 'light'] as const)
        assert.match(decodeTerminalText(qr, theme) ?? '', /\/device\?user_code=/, `a text QR code that reads on a ${theme} terminal`);
      const userCode = /\n {4}([A-Z]{4}-[A-Z]{4})\n/.exec(out)?.[1];
      assert.ok(userCode, out);
      const confirm = await new Phone().approveDevice(`${server.issuer}/device?user_code=${userCode}`);
      assert.match(confirm.html, /Device connected/);
      assert.equal(await exited, 0, out);
      assert.match(out, /Signed in as Alice Example \(alice\)\./);
    } finally {
      await server.close();
    }
  });

  it('-- --match: prints the number the phone will ask for once the code is opened, and signs in with it', async () => {
    const server = await startTestServer({ device: { pollInterval: 1 } });
    try {
      await createClient(server.store, server.provider(), { ...DEMO_MATCHING_CLIENT });
      const child = spawn(process.execPath, [DEMO, '--match'], {
        env: { PATH: process.env.PATH ?? '', PORT: new URL(server.issuer).port },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      const grew = () => new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
      });
      child.stderr.on('data', (d: Buffer) => {
        out += d.toString();
      });
      const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
      while (!out.includes('Waiting for your phone')) await grew();
      const userCode = /\n {4}([A-Z]{4}-[A-Z]{4})\n/.exec(out)?.[1];
      const phone = new Phone();
      const confirm = await phone.request(`${server.issuer}/device?user_code=${userCode}`);
      while (!/which number this screen shows:\n\n {4}\d\d/.test(out)) await grew();
      const number = /which number this screen shows:\n\n {4}(\d\d)/.exec(out)?.[1] ?? '';
      let next = await phone.submit(confirm, { confirm: number });
      next = await phone.submit(next, { username: 'alice', password: 'correct horse battery staple' });
      assert.match(next.html, /Device connected/);
      assert.equal(await exited, 0, out);
      assert.match(out, /Signed in as Alice Example \(alice\)\./);
    } finally {
      await server.close();
    }
  });
});
