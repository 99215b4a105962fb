import type { KoaContextWithOIDC } from 'oidc-provider';
import { RateLimited } from '../device/limits.js';
import { confirmPage, codeEntryPage, outcomePage } from '../views/device.js';
import { tFor } from '../views/context.js';

/**
 * Our pages for oidc-provider's device verification flow (RFC 8628 3.3). The library keeps the flow's state
 * machine and its xsrf secret in the session; these functions only draw.
 */
type DeviceInfo = { ip?: string; ua?: string } | undefined;
type DeviceCodeView = { params?: { scope?: string }; iat?: number };

export function xsrfOf(ctx: KoaContextWithOIDC): string {
  const state = ctx.oidc.session?.state as { secret?: string } | undefined;
  return state?.secret ?? '';
}

export function renderConfirm(
  ctx: KoaContextWithOIDC,
  opts: {
    code: DeviceCodeView;
    client: { clientName?: string; clientId: string; clientUri?: string };
    deviceInfo: DeviceInfo;
    userCode: string;
  },
): void {
  const t = tFor(ctx);
  ctx.type = 'html';
  ctx.body = confirmPage(t, {
    action: ctx.oidc.urlFor('code_verification'),
    xsrf: xsrfOf(ctx),
    userCode: opts.userCode,
    client: { name: opts.client.clientName ?? opts.client.clientId, uri: opts.client.clientUri },
    scopes: (opts.code.params?.scope ?? '').split(' ').filter(Boolean),
    device: { ip: opts.deviceInfo?.ip, ua: opts.deviceInfo?.ua, ...(opts.code.iat ? { at: new Date(opts.code.iat * 1000) } : {}) },
  });
}

export function deviceFlowPages() {
  return {
    async userCodeInputSource(ctx: KoaContextWithOIDC, _form: string, _out?: unknown, err?: Error) {
      const t = tFor(ctx);
      ctx.type = 'html';
      if (err instanceof RateLimited) {
        ctx.status = 429;
        ctx.set('Retry-After', String(err.retryAfter));
        ctx.body = outcomePage(t, 'throttled', { minutes: Math.ceil(err.retryAfter / 60) });
        return;
      }
      const outcome = { AbortedError: 'denied', ExpiredError: 'expired', AlreadyUsedError: 'used' } as const;
      const known = err ? outcome[err.name as keyof typeof outcome] : undefined;
      if (known) {
        ctx.body = outcomePage(t, known);
        return;
      }
      let error: string | undefined;
      if (err?.name === 'NoCodeError') error = t('entry.error.empty');
      else if (err?.name === 'NotFoundError') error = t('entry.error.notFound');
      else if (err) error = t('entry.error.generic');
      if (err) ctx.status = 400;
      ctx.body = codeEntryPage(t, { action: ctx.oidc.urlFor('code_verification'), xsrf: xsrfOf(ctx), ...(error ? { error } : {}) });
    },
    async userCodeConfirmSource(
      ctx: KoaContextWithOIDC,
      _form: string,
      client: { clientName?: string; clientId: string; clientUri?: string },
      deviceInfo: DeviceInfo,
      userCode: string,
    ) {
      const code = (ctx.oidc.entities.DeviceCode ?? {}) as DeviceCodeView;
      renderConfirm(ctx, { code, client, deviceInfo, userCode });
    },
    async successSource(ctx: KoaContextWithOIDC) {
      const client = ctx.oidc.client;
      ctx.type = 'html';
      ctx.body = outcomePage(tFor(ctx), 'success', { client: client?.clientName ?? client?.clientId ?? '' });
    },
  };
}
