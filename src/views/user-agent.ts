import Bowser from 'bowser';

/**
 * A person-readable name for a User-Agent: "Chrome on Android", "curl", "Samsung TV (Tizen)". Browsers and operating
 * systems are recognised by bowser (MIT, maintained, no dependencies); on top of it, the command-line and library
 * clients that a device flow meets (which a browser detector does not name) and the wording a person recognises.
 * It says "Unknown device" otherwise (views/device.ts); the raw string is never shown.
 */
export interface DeviceDescription {
  app?: string;
  os?: string;
}

/** Clients a browser detector does not know: tools and HTTP libraries, named as their users know them. */
const TOOLS: Array<[RegExp, string]> = [
  [/\bcurl\/[\d.]+/i, 'curl'],
  [/\bWget\//i, 'Wget'],
  [/\bpython-requests\/|\bpython-httpx\/|\bPython-urllib\//i, 'Python'],
  [/\bnode(-fetch)?\b|\bundici\b/i, 'Node.js'],
  [/\bGo-http-client\//, 'Go'],
  [/\bokhttp\//i, 'Android app'],
  [/\bHandoffDemoTV\//, 'Handoff demo TV'],
];

/** bowser's operating-system names as a person says them (TVs by their maker and system). */
const OS_NAMES: Record<string, string> = {
  iOS: 'iOS',
  Android: 'Android',
  Tizen: 'Samsung TV (Tizen)',
  WebOS: 'LG TV (webOS)',
  'Chrome OS': 'ChromeOS',
  Windows: 'Windows',
  macOS: 'macOS',
  Linux: 'Linux',
};

/** bowser's browser names, shortened as their users say them; a TV's built-in browser is named by its system. */
const BROWSER_NAMES: Record<string, string> = {
  Chrome: 'Chrome',
  Chromium: 'Chrome',
  'Microsoft Edge': 'Edge',
  Firefox: 'Firefox',
  Safari: 'Safari',
  Opera: 'Opera',
  'Samsung Internet for Android': 'Samsung Internet',
};

/** Descriptions of the user agents seen lately (a few hundred strings cover nearly every request); parsing is costly. */
const described = new Map<string, Readonly<DeviceDescription>>();
const MAX_DESCRIBED = 500;

export function describeUserAgent(ua: string | undefined): Readonly<DeviceDescription> {
  if (!ua) return {};
  const s = ua.slice(0, 512);
  const known = described.get(s);
  if (known) return known;
  const description = parse(s);
  if (described.size >= MAX_DESCRIBED) described.clear();
  described.set(s, description);
  return description;
}

function parse(s: string): DeviceDescription {
  const tool = TOOLS.find(([re]) => re.test(s))?.[1];
  const parsed = Bowser.parse(s);
  const os = OS_NAMES[parsed.os.name ?? ''];
  // A TV's built-in browser is named after its system by bowser ("Tizen", "WebOS Browser"); the engine it reports
  // is what a person knows it by.
  const app = tool ?? BROWSER_NAMES[parsed.browser.name ?? ''] ?? (/\bChrome\/\d/.test(s) ? 'Chrome' : undefined);
  return { ...(app ? { app } : {}), ...(os ? { os } : {}) };
}

/**
 * Whether a browser is on a phone or tablet, by its client hint (`Sec-CH-UA-Mobile: ?1`) or user agent: such a page
 * never offers to scan a code or to use "a passkey from your phone". (Pages also hide those by their width.)
 */
export function looksLikePhone(userAgent: string, mobileHint: string | undefined): boolean {
  return mobileHint === '?1' || /Mobi|Android|iPhone|iPad|iPod/i.test(userAgent);
}
