import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { findChromium, launchChromium } from '../helpers/browser.js';

/**
 * `npm test` on a machine with no browser: the Chromium packaged in the lockfile's `@sparticuz/chromium` starts and
 * drives a page, with `CHROMIUM_PATH` pointing nowhere and the system locations skipped.
 */
describe('the packaged browser', () => {
  const hidden = { explicit: '/nonexistent/chromium', system: [] };

  it('is chosen when CHROMIUM_PATH names nothing and no system Chromium is looked for', async () => {
    const choice = await findChromium(hidden);
    assert.equal(choice.source, 'packaged');
    assert.match(choice.path, /handoff-chromium-[\d.]+\/chromium$/);
  });

  it('starts, loads a page over HTTP and runs its script; draws form fields and Chinese text with its own fonts', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      // A form field and text in both languages: with no font found, the packaged renderer aborts on the first field.
      res.end(
        '<!doctype html><title>before</title><p>登录以继续 — Sign in</p><input id="name" value="用户"><button onclick="document.title=\'clicked\'">Go</button>',
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const browser = await launchChromium(hidden);
    try {
      const page = await browser.newPage();
      await page.goto(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`);
      await page.fill('#name', 'alice 爱丽丝');
      await page.click('button');
      assert.equal(await page.title(), 'clicked');
      assert.equal(await page.inputValue('#name'), 'alice 爱丽丝');
      assert.ok((await page.screenshot()).length > 0, 'the page was drawn');
      assert.match(browser.version(), /^\d+\./);
    } finally {
      await browser.close();
      server.close();
    }
  });
});
