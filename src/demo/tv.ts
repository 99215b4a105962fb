import Router from '@koa/router';
import { html } from '../views/html.js';
import { page } from '../views/layout.js';
import { DEMO_MATCHING_CLIENT_ID } from './seed.js';

/**
 * `/demo/tv` (outside production): a TV-style waiting screen for the demo client with number matching: once the code
 * is opened on a phone it keeps the code on screen and shows the number the phone will ask for. The page follows the status
 * stream and redeems its own tokens; its script is served from this origin (`/assets/tv.js`), so the strict CSP holds.
 */
function tvPage(): string {
  return page({
    title: 'Demo TV',
    body: html`<div class="card tv" data-client="${DEMO_MATCHING_CLIENT_ID}">
<div data-step="loading"><p>Starting…</p></div>
<div data-step="waiting" hidden>
<h1>Sign in to the demo TV</h1>
<img id="qr" alt="QR code: scan it with your phone" width="320" height="320">
<p>Scan the code with your phone, or open <strong id="uri"></strong> and enter</p>
<p class="code" id="code"></p>
</div>
<div data-step="scanned" hidden><h1>Scanned on a phone</h1><p>Check that your phone shows this code:</p><p class="code" id="scanned-code"></p>
<div id="number-box" hidden><p>Your phone will ask which number this screen shows:</p><p class="code" id="number"></p></div>
<p>Then confirm on your phone.</p></div>
<div data-step="redeeming" hidden><h1>Approved by <span id="approver"></span></h1><p>Signing in…</p></div>
<div data-step="signed-in" hidden><h1 class="success">Signed in</h1><p>Welcome, <strong id="who"></strong>.</p></div>
<div data-step="ended" hidden><h1>Not signed in</h1><p id="ended"></p><button type="button" class="primary" data-restart>Show a new code</button></div>
<div data-step="failed" hidden><h1 class="error">Something went wrong</h1><p id="error"></p><button type="button" class="primary" data-restart>Try again</button></div>
</div>
<script src="/assets/tv.js"></script>`,
  });
}

export function demoTvRoutes(): Router {
  const router = new Router();
  router.get('/demo/tv', (ctx) => {
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = tvPage();
  });
  return router;
}
