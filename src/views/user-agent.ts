/**
 * A person-readable name for a User-Agent: "Chrome on Android", "curl", "Safari on iOS". Deliberately small:
 * it names what a user can recognise and says "Unknown device" otherwise; the raw string is never shown.
 */
export interface DeviceDescription {
  app?: string;
  os?: string;
}

const OS: Array<[RegExp, string]> = [
  [/\b(iPhone|iPad|iPod)\b|\bCPU (iPhone )?OS \d/i, 'iOS'],
  [/\bAndroid\b/i, 'Android'],
  [/\bTizen\b/i, 'Samsung TV (Tizen)'],
  [/\bWeb0S\b|\bwebOS\b/i, 'LG TV (webOS)'],
  [/\bCrOS\b/, 'ChromeOS'],
  [/\bWindows NT\b|\bWindows\b/i, 'Windows'],
  [/\bMac OS X\b|\bMacintosh\b|\bDarwin\b/i, 'macOS'],
  [/\bLinux\b/i, 'Linux'],
];

const APPS: Array<[RegExp, string]> = [
  [/\bcurl\/[\d.]+/i, 'curl'],
  [/\bWget\//i, 'Wget'],
  [/\bpython-requests\/|\bpython-httpx\/|\bPython-urllib\//i, 'Python'],
  [/\bnode(-fetch)?\b|\bundici\b/i, 'Node.js'],
  [/\bGo-http-client\//, 'Go'],
  [/\bokhttp\//i, 'Android app'],
  [/\bHandoffDemoTV\//, 'Handoff demo TV'],
  [/\bEdg(e|A|iOS)?\/\d/, 'Edge'],
  [/\bOPR\/\d|\bOpera\b/, 'Opera'],
  [/\bSamsungBrowser\/\d/, 'Samsung Internet'],
  [/\bFirefox\/\d|\bFxiOS\/\d/, 'Firefox'],
  [/\bCriOS\/\d|Chrome\/\d|\bChromium\/\d/, 'Chrome'],
  [/\bVersion\/[\d.]+.*\bSafari\/\d|\bMobile\/\w+ Safari\b|\bAppleWebKit\b.*\bMobile\//, 'Safari'],
];

export function describeUserAgent(ua: string | undefined): DeviceDescription {
  if (!ua) return {};
  const s = ua.slice(0, 512);
  const app = APPS.find(([re]) => re.test(s))?.[1];
  const os = OS.find(([re]) => re.test(s))?.[1];
  return { ...(app ? { app } : {}), ...(os ? { os } : {}) };
}
