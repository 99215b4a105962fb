import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { closeSharedDb } from '../test/helpers/db.js';
import { launchChromium, phoneContext } from '../test/helpers/browser.js';
import { createClient } from '../src/admin/clients.js';
import { decodePng } from '../test/helpers/qr.js';
import { PASSWORD, startTestServer } from '../test/helpers/server.js';

/** `npm run screenshots`: the phone pages at 360 px in Chromium (test/helpers/browser.ts picks which), written to docs/screenshots/ for the README. */
const OUT = fileURLToPath(new URL('../../docs/screenshots/', import.meta.url));

async function main() {
  mkdirSync(OUT, { recursive: true });
  const server = await startTestServer();
  const browser = await launchChromium();
  const shoot = async (page: import('playwright-core').Page, name: string) => {
    await page.screenshot({ path: `${OUT}${name}.png`, fullPage: true });
    process.stdout.write(`docs/screenshots/${name}.png\n`);
  };
  const start = async () => {
    const res = await fetch(`${server.publicUrl}/device/auth`, {
      method: 'POST',
      body: new URLSearchParams({ client_id: 'tv', scope: 'openid profile email offline_access' }),
      headers: {
        'user-agent': 'Mozilla/5.0 (SMART-TV; LINUX; Tizen 7.0) AppleWebKit/537.36 (KHTML, like Gecko) 94.0.4606.31/7.0 TV Safari/537.36',
      },
    });
    return (await res.json()) as { verification_uri_complete: string };
  };
  try {
    const ctx = await phoneContext(browser);
    const page = await ctx.newPage();
    await page.goto(`${server.publicUrl}/device`);
    await shoot(page, 'entry');
    const dc = await start();
    await page.goto(dc.verification_uri_complete);
    await shoot(page, 'confirm');
    await page.getByRole('button', { name: 'Yes, approve' }).click();
    await page.getByLabel('Username').fill('alice');
    await shoot(page, 'sign-in');
    await page.getByLabel('Password').fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'Device connected' }).waitFor();
    await shoot(page, 'success');
    await page.goto(`${server.publicUrl}/account/devices`);
    await shoot(page, 'your-devices');
    await page.goto(`${server.publicUrl}/`);
    await shoot(page, 'home');
    const declined = await start();
    await page.goto(declined.verification_uri_complete);
    await page.getByRole('button', { name: 'No, decline' }).click();
    await shoot(page, 'declined');
    const zh = await phoneContext(browser, 'zh-CN');
    const zhPage = await zh.newPage();
    await zhPage.goto((await start()).verification_uri_complete);
    await shoot(zhPage, 'confirm-zh');

    // Desktop scan-to-sign-in: a relying party's sign-in on a desktop, confirmed on the (signed-in) phone.
    await createClient(server.store, server.provider(), {
      client_id: 'rp',
      client_name: 'Photo App',
      redirect_uris: ['https://rp.example.com/cb'],
    });
    const desk = await (await browser.newContext({ viewport: { width: 1000, height: 760 } })).newPage();
    const auth = new URL(`${server.publicUrl}/auth`);
    auth.search = new URLSearchParams({
      client_id: 'rp',
      response_type: 'code',
      scope: 'openid profile',
      redirect_uri: 'https://rp.example.com/cb',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM',
      code_challenge_method: 'S256',
    }).toString();
    await desk.goto(auth.toString());
    await desk.locator('#qr-image').waitFor();
    await shoot(desk, 'desktop-qr');
    const ticketUrl = decodePng(await desk.locator('#qr-image').screenshot());
    if (!ticketUrl) throw new Error('could not read the desktop QR code');
    await page.goto(ticketUrl);
    await shoot(page, 'phone-qr-confirm');
    await desk.getByText('Scanned. Confirm on your phone.').waitFor();
    await shoot(desk, 'desktop-scanned');

    // Sign-out from the account page: RP-initiated logout's question, on our own page.
    await page.goto(`${server.publicUrl}/account/devices`);
    await page.getByRole('link', { name: 'Sign out', exact: true }).click();
    await page.getByRole('heading', { name: 'Sign out of Handoff on this browser?' }).waitFor();
    await shoot(page, 'sign-out');
  } finally {
    await browser.close();
    await server.close();
    await closeSharedDb();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
