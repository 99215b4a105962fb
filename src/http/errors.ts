/**
 * Errors Handoff's own routes throw. Each carries an RFC-style `error` code and an HTTP `status`; messages of
 * errors with status >= 500 are never shown to clients (`expose` is false), as in oidc-provider and Koa.
 */
export class HttpError extends Error {
  readonly status: number;
  readonly error: string;
  readonly expose: boolean;
  readonly headers: Record<string, string>;
  /** The input field at fault, when there is one (admin API validation). */
  readonly field: string | undefined;

  constructor(status: number, error: string, description: string, opts: { field?: string; headers?: Record<string, string> } = {}) {
    super(description);
    this.name = 'HttpError';
    this.status = status;
    this.error = error;
    this.expose = status < 500;
    this.field = opts.field;
    this.headers = opts.headers ?? {};
  }
}

export const badRequest = (description: string, field?: string) =>
  new HttpError(400, 'invalid_request', description, field === undefined ? {} : { field });
export const notFound = (description = 'not found') => new HttpError(404, 'not_found', description);
export const conflict = (description: string, field?: string) =>
  new HttpError(409, 'conflict', description, field === undefined ? {} : { field });
