import assert from 'node:assert/strict';
import { describeUserAgent } from '../../src/views/user-agent.js';
import { formatUserCode, normalizeUserCode } from '../../src/device/user-code.js';

describe('user codes', () => {
  it('accepts any case, spaces and dashes', () => {
    for (const typed of ['BCDF-GHJK', 'bcdf-ghjk', 'bcdf ghjk', ' BcDf–GhJk '.replace('–', '-'), 'bcdfghjk', 'B C D F G H J K']) {
      assert.equal(normalizeUserCode(typed), 'BCDFGHJK', typed);
    }
  });
  it('refuses anything that is not a code of the alphabet', () => {
    for (const bad of ['', 'BCDF-GHJ', 'BCDF-GHJKL', 'ABCD-EFGH', '<script>', 'BCDF-GHJ1'])
      assert.equal(normalizeUserCode(bad), undefined, bad);
  });
  it('formats for display', () => {
    assert.equal(formatUserCode('BCDFGHJK'), 'BCDF-GHJK');
  });
});

describe('user agents as a person reads them', () => {
  const cases: Array<[string, { app?: string; os?: string }]> = [
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
      { app: 'Chrome', os: 'Windows' },
    ],
    [
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36',
      { app: 'Chrome', os: 'Linux' },
    ],
    [
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0',
      { app: 'Edge', os: 'Windows' },
    ],
    [
      'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1',
      { app: 'Safari', os: 'iOS' },
    ],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:128.0) Gecko/20100101 Firefox/128.0', { app: 'Firefox', os: 'macOS' }],
    ['curl/8.5.0', { app: 'curl' }],
    [
      'Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) 76.0.3809.146/6.0 TV Safari/537.36',
      { os: 'Samsung TV (Tizen)' },
    ],
    [
      'Mozilla/5.0 (Web0S; Linux/SmartTV) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/79.0.3945.79 Safari/537.36 WebAppManager',
      { app: 'Chrome', os: 'LG TV (webOS)' },
    ],
    [
      'Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36',
      { app: 'Samsung Internet', os: 'Android' },
    ],
    [
      'Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36',
      { app: 'Chrome', os: 'ChromeOS' },
    ],
    ['Go-http-client/2.0', { app: 'Go' }],
    ['python-requests/2.32.3', { app: 'Python' }],
    ['', {}],
  ];
  for (const [ua, expected] of cases) {
    it(`${ua.slice(0, 50) || '(none)'} → ${JSON.stringify(expected)}`, () => assert.deepEqual(describeUserAgent(ua), expected));
  }
});
