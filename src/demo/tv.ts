import Router from '@koa/router';
import { html } from '../views/html.js';
import { page } from '../views/layout.js';
import { tFor } from '../views/context.js';
import type { Translator } from '../views/i18n.js';
import { DEMO_MATCHING_CLIENT_ID } from './seed.js';

/**
 * `/demo/tv` (outside production), in the reader's language: a TV-style waiting screen for the demo client with number matching: once the code
 * is opened on a phone it keeps the code on screen and shows the number the phone will ask for. The page follows the status
 * stream and redeems its own tokens; its script is served from this origin (`/assets/tv.js`), so the strict CSP holds.
 */
function tvPage(t: Translator): string {
  return page({
    title: t('tv.title'),
    lang: t('lang.tag'),
    body: html`<div class="card tv" data-client="${DEMO_MATCHING_CLIENT_ID}" data-declined="${t('tv.declined')}" data-expired="${t('tv.expired')}">
<div data-step="loading"><p>${t('tv.starting')}</p></div>
<div data-step="waiting" hidden>
<h1>${t('tv.signIn')}</h1>
<img id="qr" alt="${t('tv.qrAlt')}" width="320" height="320">
<p id="scan-text" data-template="${t('tv.scan', { uri: '{uri}' })}"></p>
<p class="code" id="code"></p>
</div>
<div data-step="scanned" hidden><h1>${t('tv.scanned')}</h1><p>${t('tv.check')}</p><p class="code" id="scanned-code"></p>
<div id="number-box" hidden><p>${t('tv.number')}</p><p class="code" id="number"></p></div>
<p>${t('tv.confirm')}</p></div>
<div data-step="redeeming" hidden><h1 id="approved-by" data-template="${t('tv.approvedBy', { name: '{name}' })}"></h1><p>${t('tv.signingIn')}</p></div>
<div data-step="signed-in" hidden><h1 class="success">${t('tv.signedIn')}</h1><p id="welcome" data-template="${t('tv.welcome', { name: '{name}' })}"></p></div>
<div data-step="ended" hidden><h1>${t('tv.notSignedIn')}</h1><p id="ended"></p><button type="button" class="primary" data-restart>${t('tv.fresh')}</button></div>
<div data-step="failed" hidden><h1 class="error">${t('tv.failed')}</h1><p id="error"></p><button type="button" class="primary" data-restart>${t('tv.retry')}</button></div>
</div>
<script src="/assets/tv.js"></script>`,
  });
}

export function demoTvRoutes(): Router {
  const router = new Router();
  router.get('/demo/tv', (ctx) => {
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = tvPage(tFor(ctx));
  });
  return router;
}
