import { createServer } from 'node:http';
import { parse } from 'node:querystring';
import Koa from 'koa';
import mount from 'koa-mount';
import Provider, { type KoaContextWithOIDC } from 'oidc-provider';

/**
 * A second, real OpenID Provider for the tests of upstream sign-in (accounts/upstream.ts): oidc-provider in its own
 * process on 127.0.0.1 (another host than Handoff's `localhost`, so a browser keeps their cookies apart, as it would
 * for two real sites). Its sign-in page is a form asking which account signs in (`sub`); consent is given at once.
 *
 * Environment: `UPSTREAM_CLIENTS` (JSON list of client metadata) and `UPSTREAM_ACCOUNTS` (JSON object: sub → claims).
 * Prints `listening <issuer>` once ready. Claims follow the standard (`conformIdTokenClaims`): the ID token carries
 * `sub`, and email and profile claims come from userinfo, as many real upstreams do.
 */
const accounts = JSON.parse(process.env.UPSTREAM_ACCOUNTS ?? '{}') as Record<string, Record<string, unknown>>;
const clients = JSON.parse(process.env.UPSTREAM_CLIENTS ?? '[]') as Array<Record<string, unknown>>;

const server = createServer();
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const address = server.address();
const issuer = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;

const provider = new Provider(issuer, {
  clients: clients as never,
  cookies: { names: { session: 'up_session', interaction: 'up_interaction', resume: 'up_resume' }, keys: ['upstream-test-cookie-key'] },
  claims: { openid: ['sub', 'amr', 'acr', 'auth_time'], email: ['email', 'email_verified'], profile: ['name', 'preferred_username'] },
  features: { devInteractions: { enabled: false } },
  interactions: { url: (_ctx: KoaContextWithOIDC, interaction: { uid: string }) => `/i/${interaction.uid}` },
  async findAccount(_ctx: KoaContextWithOIDC, sub: string) {
    const claims = accounts[sub];
    return claims ? { accountId: sub, claims: async () => ({ sub, ...claims }) } : undefined;
  },
});

// Mounted, the provider runs on this app's context: cookies are signed with this app's keys.
const app = new Koa();
app.keys = provider.keys;
app.use(async (ctx, next) => {
  const m = /^\/i\/([\w-]+)$/.exec(ctx.path);
  if (!m) return next();
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.prompt.name === 'consent') {
    const grant = new provider.Grant({ accountId: String(details.session?.accountId), clientId: String(details.params.client_id) });
    grant.addOIDCScope(String(details.params.scope ?? 'openid'));
    const grantId = await grant.save();
    await provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  if (ctx.method === 'POST') {
    let text = '';
    for await (const chunk of ctx.req) text += String(chunk);
    const sub = String(parse(text).sub ?? '');
    if (sub === 'decline') {
      await provider.interactionFinished(ctx.req, ctx.res, { error: 'access_denied' }, { mergeWithLastSubmission: false });
      return;
    }
    await provider.interactionFinished(
      ctx.req,
      ctx.res,
      { login: { accountId: sub, amr: ['pwd', 'mfa'] } },
      { mergeWithLastSubmission: false },
    );
    return;
  }
  ctx.type = 'html';
  ctx.body = `<!doctype html><title>Upstream sign-in</title><h1>Upstream sign-in</h1>
<form method="post" action="/i/${m[1]}"><label for="sub">Account</label><input id="sub" name="sub"><button type="submit">Sign in upstream</button></form>`;
});
app.use(mount(provider));
server.on('request', app.callback());
process.stdout.write(`listening ${issuer}\n`);
process.on('SIGTERM', () => server.close(() => process.exit(0)));
