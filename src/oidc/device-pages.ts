import type { KoaContextWithOIDC } from 'oidc-provider';
import { codeEntryPage, confirmPage } from '../views/device.js';
import { messagePage } from '../views/sign-in.js';

/**
 * Our pages for oidc-provider's device verification flow (RFC 8628 3.3). The library keeps the flow's state
 * machine and its xsrf secret in the session; these functions only draw.
 */
type DeviceInfo = { ip?: string; ua?: string } | undefined;

function xsrf(ctx: KoaContextWithOIDC): string {
  const state = ctx.oidc.session?.state as { secret?: string } | undefined;
  return state?.secret ?? '';
}

const ERROR_TEXT: Record<string, string> = {
  NoCodeError: 'Enter the code shown on your device.',
  NotFoundError: 'That code is not valid. Check the code on your device and try again.',
  ExpiredError: 'That code has expired. Start again on your device to get a new code.',
  AlreadyUsedError: 'That code has already been used. Start again on your device to get a new code.',
};

export function deviceFlowPages() {
  return {
    async userCodeInputSource(ctx: KoaContextWithOIDC, _form: string, _out?: unknown, err?: Error) {
      ctx.type = 'html';
      if (err?.name === 'AbortedError') {
        ctx.body = messagePage({
          title: 'Sign-in declined',
          message: 'Nothing was shared. The device will show that sign-in was declined; you can close this page.',
        });
        return;
      }
      const action = ctx.oidc.urlFor('code_verification');
      let error: string | undefined;
      if (err) error = ERROR_TEXT[err.name] ?? 'Something went wrong. Start again on your device.';
      ctx.body = codeEntryPage({ action, xsrf: xsrf(ctx), ...(error ? { error } : {}) });
    },
    async userCodeConfirmSource(
      ctx: KoaContextWithOIDC,
      _form: string,
      client: { clientName?: string; clientId: string; clientUri?: string },
      deviceInfo: DeviceInfo,
      userCode: string,
    ) {
      const code = ctx.oidc.entities.DeviceCode as { params?: { scope?: string } } | undefined;
      ctx.type = 'html';
      ctx.body = confirmPage({
        action: ctx.oidc.urlFor('code_verification'),
        xsrf: xsrf(ctx),
        userCode,
        client: { name: client.clientName ?? client.clientId, uri: client.clientUri },
        scopes: (code?.params?.scope ?? '').split(' ').filter(Boolean),
        device: deviceInfo,
      });
    },
    async successSource(ctx: KoaContextWithOIDC) {
      const client = ctx.oidc.client;
      ctx.type = 'html';
      ctx.body = messagePage({
        title: 'Device connected',
        message: `${client?.clientName ?? client?.clientId ?? 'The device'} is now signed in. You can close this page; the device will continue by itself.`,
        status: 'success',
      });
    },
  };
}
