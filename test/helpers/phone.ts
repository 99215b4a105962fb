import { PASSWORD } from './server.js';

/**
 * A browser at the HTTP level: keeps cookies, follows redirects by hand, and submits the forms it is shown.
 * Enough to drive the phone side of the device flow through our real pages without a real browser.
 */
export interface Page {
  url: string;
  status: number;
  html: string;
  headers: Headers;
}

const ENTITIES: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'", '&#96;': '`' };
const decodeEntities = (s: string) => s.replace(/&(amp|lt|gt|quot|#39|#96);/g, (m) => ENTITIES[m] ?? m);

export class Phone {
  readonly cookies = new Map<string, string>();
  /** When the last request of the last redirect chain was sent (ms since the epoch): benchmarks time approvals by it. */
  lastHopStartedAt = 0;
  userAgent = 'Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148 Safari/604.1';
  /** Extra headers on every request, e.g. `X-Forwarded-For` for a simulated client behind a trusted proxy. */
  headers: Record<string, string> = {};
  /** Send form bodies chunked (no `Content-Length`), as a client may. */
  chunkedBodies = false;

  /** A browser at `address` (sent as `X-Forwarded-For`; the server must run with PROXY=true). */
  static at(address: string): Phone {
    const p = new Phone();
    p.headers['x-forwarded-for'] = address;
    return p;
  }

  private store(headers: Headers) {
    for (const line of headers.getSetCookie()) {
      const [pair] = line.split(';');
      const eq = pair?.indexOf('=') ?? -1;
      if (!pair || eq < 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      if (/expires=Thu, 01 Jan 1970/i.test(line) || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async request(url: string, init: { method?: string; form?: Record<string, string> } = {}): Promise<Page> {
    let current = url;
    let method = init.method ?? (init.form ? 'POST' : 'GET');
    let body: URLSearchParams | undefined = init.form ? new URLSearchParams(init.form) : undefined;
    for (let hops = 0; hops < 20; hops += 1) {
      this.lastHopStartedAt = Date.now();
      const bytes = body && this.chunkedBodies ? new TextEncoder().encode(body.toString()) : undefined;
      const res = await fetch(current, {
        method,
        ...(bytes
          ? {
              body: new ReadableStream({
                start(c) {
                  c.enqueue(bytes);
                  c.close();
                },
              }),
              duplex: 'half',
            }
          : { body }),
        redirect: 'manual',
        headers: {
          cookie: [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '),
          'user-agent': this.userAgent,
          accept: 'text/html',
          ...(bytes ? { 'content-type': 'application/x-www-form-urlencoded' } : {}),
          ...this.headers,
        },
      } as RequestInit);
      this.store(res.headers);
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        await res.text();
        const next = new URL(location, current);
        // Redirects to another origin (a relying party's redirect_uri) are reported, not followed.
        if (next.origin !== new URL(url).origin) return { url: next.toString(), status: res.status, html: '', headers: res.headers };
        current = next.toString();
        method = 'GET';
        body = undefined;
        continue;
      }
      return { url: current, status: res.status, html: await res.text(), headers: res.headers };
    }
    throw new Error('too many redirects');
  }

  /**
   * Submits the page's first form (or the one whose action contains `actionPart`) with extra fields: a POST form as a
   * form post, a GET form (code entry) as the browser does, its fields in the query.
   */
  async submit(page: Page, fields: Record<string, string> = {}, actionPart?: string): Promise<Page> {
    // Hidden forms (the login page's QR completion form) are not something a person can submit.
    const forms = [...page.html.matchAll(/<form([^>]*)method="(post|get)"[^>]*action="([^"]*)"([^>]*)>([\s\S]*?)<\/form>/g)]
      .filter((f) => !/\bhidden\b/.test(`${f[1]} ${f[4]}`))
      .map((f) => ({ method: f[2] as string, action: f[3] ?? '', body: f[5] ?? '' }));
    const form = forms.find((f) => !actionPart || f.action.includes(actionPart));
    if (!form) throw new Error(`no form on ${page.url} (status ${page.status}): ${page.html.slice(0, 400)}`);
    const hidden: Record<string, string> = {};
    for (const m of form.body.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)"/g)) {
      hidden[m[1] as string] = decodeEntities(m[2] as string);
    }
    const url = new URL(decodeEntities(form.action), page.url);
    if (form.method === 'get') {
      url.search = new URLSearchParams({ ...hidden, ...fields }).toString();
      return this.request(url.toString());
    }
    return this.request(url.toString(), { form: { ...hidden, ...fields } });
  }

  /**
   * Ends one sign-in on the account page the way a person does: its Revoke link opens a confirmation page, whose form
   * ends it. Without an id, the first entry listed. Returns the account page shown after.
   */
  async revokeOnAccount(base: string, id?: string): Promise<Page> {
    const entry = id ?? /data-approval="([^"]+)"/.exec((await this.request(`${base}/account/devices`)).html)?.[1];
    if (!entry) throw new Error('nothing to revoke on the account page');
    return this.submit(await this.request(`${base}/account/devices/${entry}/revoke`));
  }

  /**
   * The whole phone path for a device code: open the verification URI, confirm, sign in (the confirmation is the
   * only decision; a consent page would be a second one, so it is not expected).
   * `decision` 'deny' declines on the confirmation page. Returns the last page shown.
   */
  async approveDevice(verificationUriComplete: string, decision: 'approve' | 'deny' = 'approve', password = PASSWORD): Promise<Page> {
    let page = await this.request(verificationUriComplete);
    if (page.html.includes('Submitting Callback')) page = await this.submit(page);
    if (!page.html.includes('name="confirm"')) return page;
    if (decision === 'deny') return this.submit(page, { abort: 'yes' });
    page = await this.submit(page, { confirm: 'yes' });
    if (page.html.includes('name="password"')) page = await this.submit(page, { username: 'alice', password });
    return page;
  }
}
