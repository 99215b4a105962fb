import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Koa from 'koa';
import mount from 'koa-mount';
import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { loadConfig } from '../src/config/load.js';
import { type DevicePages, providerConfiguration } from '../src/oidc/provider.js';
import { tFor } from '../src/views/context.js';
import { codeEntryPage, confirmPage, outcomePage } from '../src/views/device.js';
import { plainPgAdapter } from './plain-pg-adapter.js';

/**
 * The benchmarks' baselines: stock oidc-provider with Handoff's own provider configuration (same algorithms, TTLs,
 * device flow settings and pages) and none of what Handoff adds around it (storage with hashed ids, limits,
 * pacing, push, telemetry). `BENCH_BASELINE_DATABASE_URL` selects a plain PostgreSQL adapter (plain-pg-adapter.ts);
 * without it, oidc-provider's in-memory adapter. Login and consent are finished automatically for the one account,
 * so flows measure the protocol path.
 */
const config = loadConfig(process.env);
const ACCOUNT = 'bench-account';

async function key(alg: 'ES256' | 'RS256' | 'EdDSA'): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : { extractable: true });
  return { ...(await exportJWK(privateKey)), alg, use: 'sig', kid: alg };
}

/** The same pages as Handoff's (views/), drawn without Handoff's guards and transitions. */
function pages(): DevicePages {
  const xsrf = (ctx: KoaContextWithOIDC) => String((ctx.oidc.session?.state as { secret?: unknown } | undefined)?.secret ?? '');
  return {
    async userCodeInputSource(ctx, _form, _out, err) {
      ctx.type = 'html';
      ctx.body = codeEntryPage(tFor(ctx), {
        action: ctx.oidc.urlFor('code_verification'),
        xsrf: xsrf(ctx),
        ...(err ? { error: err.message } : {}),
      });
    },
    async userCodeConfirmSource(ctx, _form, client, deviceInfo, userCode) {
      ctx.type = 'html';
      const info = deviceInfo as { ip?: string; ua?: string } | undefined;
      ctx.body = confirmPage(tFor(ctx), {
        action: ctx.oidc.urlFor('code_verification'),
        xsrf: xsrf(ctx),
        userCode,
        client: { name: client.clientName ?? client.clientId },
        scopes: [],
        device: { ip: info?.ip, ua: info?.ua },
      });
    },
    async successSource(ctx) {
      ctx.type = 'html';
      ctx.body = outcomePage(tFor(ctx), 'success', { client: 'the device' });
    },
  };
}

async function main() {
  // The port is bound first (the issuer names it); a request that arrives before the app is built waits for it.
  let handle: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  let built: () => void = () => {};
  const ready = new Promise<void>((r) => {
    built = r;
  });
  const server = createServer((req, res) => {
    if (handle) handle(req, res);
    else void ready.then(() => handle?.(req, res));
  });
  await new Promise<void>((r) => server.listen(config.port, () => r()));
  const issuer = `http://localhost:${(server.address() as AddressInfo).port}`;
  const url = process.env.BENCH_BASELINE_DATABASE_URL;
  const configuration: Configuration = {
    ...providerConfiguration({
      config,
      issuer,
      signingKeys: [await key('ES256'), await key('RS256'), await key('EdDSA')],
      devicePages: pages(),
      adapter: url ? await plainPgAdapter(url) : undefined,
      findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub, name: 'Bench', preferred_username: 'bench' }) }),
    }),
    clients: [
      {
        client_id: 'tv',
        token_endpoint_auth_method: 'none',
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
        response_types: [],
      },
    ],
  };
  const provider = new Provider(issuer, configuration);
  provider.keys = ['baseline-cookie-key'];
  const app = new Koa();
  app.keys = provider.keys;
  app.use(async (ctx, next) => {
    const m = /^\/interaction\/([\w-]+)$/.exec(ctx.path);
    if (!m) return next();
    const d = await provider.interactionDetails(ctx.req, ctx.res);
    let result: Parameters<Provider['interactionResult']>[2];
    if (d.prompt.name === 'login') result = { login: { accountId: ACCOUNT } };
    else {
      const grant = new provider.Grant({ accountId: ACCOUNT, clientId: String(d.params.client_id) });
      grant.addOIDCScope(String(d.params.scope));
      result = { consent: { grantId: await grant.save() } };
    }
    ctx.status = 303;
    ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true }));
  });
  app.use(mount(provider as unknown as Koa));
  handle = app.callback();
  built();
  process.stdout.write(`${JSON.stringify({ msg: 'listening', issuer })}\n`);
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
