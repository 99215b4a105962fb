import assert from 'node:assert/strict';
import { escapeHtml, html } from '../../src/views/html.js';
import { confirmPage } from '../../src/views/device.js';
import { translator } from '../../src/views/i18n.js';

describe('html templates', () => {
  it('escapes every interpolated value unless it is already html', () => {
    const evil = `<script>"x"&'y'</script>`;
    assert.equal(html`<p>${evil}</p>`.value, '<p>&lt;script&gt;&quot;x&quot;&amp;&#39;y&#39;&lt;/script&gt;</p>');
    assert.equal(html`<ul>${[html`<li>${'<a>'}</li>`]}</ul>`.value, '<ul><li>&lt;a&gt;</li></ul>');
    assert.equal(html`${undefined}${null}${false}${0}`.value, '0');
    assert.equal(escapeHtml('`'), '&#96;');
  });

  it('draws the confirmation page with Decline and Approve as equal buttons, escaping client data', () => {
    const page = confirmPage(translator('en'), {
      action: '/device',
      xsrf: 'x',
      userCode: 'BCDF-GHJK',
      client: { name: '<b>Evil TV</b>' },
      scopes: ['openid', 'email'],
      device: { ip: '192.0.2.1', ua: 'Mozilla/5.0 (SMART-TV; Linux; Tizen 6.0) AppleWebKit/537.36 Chrome/85.0 TV Safari/537.36' },
    });
    assert.ok(!page.includes('<b>Evil TV</b>'));
    assert.match(page, /&lt;b&gt;Evil TV&lt;\/b&gt;/);
    assert.match(page, /<button type="submit" name="abort" value="yes" class="decline">No, decline<\/button>/);
    assert.match(page, /<button type="submit" name="confirm" value="yes" class="primary">Yes, approve<\/button>/);
    assert.match(page, /Chrome on Samsung TV \(Tizen\)/);
    assert.match(page, /192\.0\.2\.1/);
  });
});
