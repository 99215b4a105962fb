import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, type BrowserContext, chromium } from 'playwright-core';

/**
 * Which Chromium the browser tests drive, in this order:
 *   1. `CHROMIUM_PATH`, when it names an executable file;
 *   2. a system Chromium (Debian's `chromium` package, or Chrome), unless `CHROMIUM_SYSTEM=0`;
 *   3. the Chromium shipped inside the npm package `@sparticuz/chromium` (a devDependency, so it comes with the
 *      install from the lockfile: no download at run time, no root), unpacked once per version into the system's
 *      temporary directory.
 * So `npm test` passes on a machine with Node and npm and no browser at all. It is always real Chromium.
 */
export const SYSTEM_CHROMIUMS = [
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
  '/usr/bin/google-chrome-stable',
];

export interface ChromiumChoice {
  path: string;
  source: 'CHROMIUM_PATH' | 'system' | 'packaged';
  /** What the browser's process needs in its environment (the packaged one: its own fonts). */
  env?: Record<string, string>;
}

export interface ChromiumOptions {
  /** An explicit executable (the environment's `CHROMIUM_PATH` by default). */
  explicit?: string | undefined;
  /** System locations to try (none when `CHROMIUM_SYSTEM=0`). */
  system?: string[];
}

function defaults(): Required<ChromiumOptions> {
  return {
    explicit: process.env.CHROMIUM_PATH || undefined,
    system: process.env.CHROMIUM_SYSTEM === '0' ? [] : SYSTEM_CHROMIUMS,
  } as Required<ChromiumOptions>;
}

/**
 * The packaged Chromium's executable. The package unpacks into `os.tmpdir()`; it is pointed at a directory of its
 * own per version, unpacked into a fresh directory first and renamed into place, so two test runs starting together
 * never see a half-written browser.
 */
async function packagedChromium(): Promise<ChromiumChoice> {
  // The package exports no package.json: it is read from beside the entry point (build/index.js).
  const entry = fileURLToPath(import.meta.resolve('@sparticuz/chromium'));
  const { version } = JSON.parse(readFileSync(join(dirname(entry), '..', 'package.json'), 'utf8')) as { version: string };
  const home = join(tmpdir(), `handoff-chromium-${version}`);
  const fonts = join(home, 'handoff-fonts.conf');
  const choice: ChromiumChoice = { path: join(home, 'chromium'), source: 'packaged', env: { FONTCONFIG_FILE: fonts } };
  if (existsSync(choice.path)) {
    if (!existsSync(fonts)) writeFontConfig(home);
    return choice;
  }
  const staging = mkdtempSync(join(tmpdir(), 'handoff-chromium-unpack-'));
  // The package reads os.tmpdir() (TMPDIR) when it unpacks, and sets FONTCONFIG_PATH and HOME when they are unset;
  // the process's own environment is put back as it was.
  const saved = { TMPDIR: process.env.TMPDIR, FONTCONFIG_PATH: process.env.FONTCONFIG_PATH, HOME: process.env.HOME };
  process.env.TMPDIR = staging;
  try {
    const { default: packaged } = await import('@sparticuz/chromium');
    await packaged.executablePath();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
  writeFontConfig(staging, home);
  try {
    renameSync(staging, home);
  } catch (err) {
    // Another run put its copy in place first: use that one.
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(choice.path)) throw err;
  }
  return choice;
}

/**
 * The packaged Chromium's own fonts.conf names directories of the machine it was built for (`/tmp/fonts`, `/opt/fonts`),
 * not where its fonts were unpacked; with no font found, its renderer aborts on the first form field it draws. This
 * one names the unpacked fonts (Open Sans, enough for every page here, Chinese included through Chromium's fallback)
 * and the machine's own font directories, with a cache of its own. Written beside the browser, by rename.
 */
function writeFontConfig(dir: string, finalDir = dir): void {
  const conf = `<?xml version="1.0"?>
<!DOCTYPE fontconfig SYSTEM "fonts.dtd">
<fontconfig>
  <dir>${join(finalDir, 'fonts', 'fonts')}</dir>
  <dir>/usr/share/fonts</dir>
  <dir>/usr/local/share/fonts</dir>
  <cachedir>${join(finalDir, 'fonts-cache')}</cachedir>
</fontconfig>
`;
  const temporary = join(dir, `handoff-fonts.conf.${process.pid}`);
  writeFileSync(temporary, conf);
  renameSync(temporary, join(dir, 'handoff-fonts.conf'));
}

/** The Chromium to launch (see above). */
export async function findChromium(options: ChromiumOptions = {}): Promise<ChromiumChoice> {
  const o = { ...defaults(), ...options };
  if (o.explicit && existsSync(o.explicit)) return { path: o.explicit, source: 'CHROMIUM_PATH' };
  const system = o.system.find((path) => existsSync(path));
  if (system) return { path: system, source: 'system' };
  return packagedChromium();
}

export async function launchChromium(options: ChromiumOptions = {}): Promise<Browser> {
  const found = await findChromium(options);
  return chromium.launch({
    executablePath: found.path,
    ...(found.env ? { env: { ...process.env, ...found.env } as Record<string, string> } : {}),
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
