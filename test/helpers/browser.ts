import { existsSync } from 'node:fs';
import { type Browser, type BrowserContext, chromium } from 'playwright-core';

/** Debian's Chromium (`apt-get install chromium`); .ci/run installs it. Never a downloaded browser build. */
export const CHROMIUM = '/usr/bin/chromium';

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium package (apt-get install -y chromium)`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--no-first-run',
      '--disable-sync',
    ],
  });
}

/** A phone: 360 px wide, touch, a mobile Safari user agent. */
export function phoneContext(browser: Browser, locale = 'en-US'): Promise<BrowserContext> {
  return browser.newContext({
    viewport: { width: 360, height: 760 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
    locale,
    userAgent:
      'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1',
  });
}

/**
 * A blank page, once any navigation still under way is over: a relying party's callback that the test does not serve
 * ends on Chromium's error page a moment after its request was seen, and would interrupt the next `goto`.
 */
export async function blank(page: import('playwright-core').Page): Promise<void> {
  for (let attempt = 0; ; attempt += 1) {
    try {
      await page.goto('about:blank');
      return;
    } catch (err) {
      if (attempt >= 5 || !/interrupted by another navigation/.test((err as Error).message)) throw err;
      await page.waitForLoadState('load').catch(() => {});
    }
  }
}
