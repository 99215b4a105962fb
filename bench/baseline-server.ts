import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import Koa from 'koa';
import mount from 'koa-mount';
import Provider, { type Configuration } from 'oidc-provider';
import { loadConfig } from '../src/config/load.js';
import { UserCodeGuard } from '../src/device/limits.js';
import { WaitRegistry } from '../src/events/waits.js';
import { InProcessBus } from '../src/events/bus.js';
import { providerConfiguration } from '../src/oidc/provider.js';
import type { Db } from '../src/storage/db.js';

/**
 * The benchmarks' baseline: oidc-provider with its in-memory adapter and Handoff's own provider configuration
 * (same algorithms, TTLs, device flow settings and pages), with none of Handoff's storage, limits or real-time
 * work. Login and consent are finished automatically for the one account, so flows measure the protocol path.
 */
const config = loadConfig(process.env);
const ACCOUNT = 'bench-account';

async function key(alg: 'ES256' | 'RS256' | 'EdDSA'): Promise<JWK> {
  const { privateKey } = await generateKeyPair(alg, alg === 'EdDSA' ? { crv: 'Ed25519', extractable: true } : { extractable: true });
  return { ...(await exportJWK(privateKey)), alg, use: 'sig', kid: alg };
}

async function main() {
  const server = createServer();
  await new Promise<void>((r) => server.listen(config.port, () => r()));
  const issuer = `http://localhost:${(server.address() as AddressInfo).port}`;
  const unused = undefined as unknown as Db;
  const configuration: Configuration = {
    ...providerConfiguration({
      config,
      db: unused,
      issuer,
      guard: new UserCodeGuard(unused, config.device),
      realtime: { bus: new InProcessBus(), waits: new WaitRegistry({ max: 1, perAddress: 1, perHandoff: 1 }), maxWaitSeconds: 1 },
      signingKeys: [await key('ES256'), await key('RS256'), await key('EdDSA')],
    }),
    clients: [
      {
        client_id: 'tv',
        token_endpoint_auth_method: 'none',
        grant_types: ['urn:ietf:params:oauth:grant-type:device_code', 'refresh_token'],
        response_types: [],
      },
    ],
    findAccount: async (_ctx, sub) => ({ accountId: sub, claims: async () => ({ sub, name: 'Bench', preferred_username: 'bench' }) }),
  };
  delete configuration.adapter;
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
  server.on('request', app.callback());
  process.stdout.write(`${JSON.stringify({ msg: 'listening', issuer })}\n`);
  process.on('SIGTERM', () => server.close(() => process.exit(0)));
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
