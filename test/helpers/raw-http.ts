import { request } from 'node:http';

/**
 * A request with exactly the headers given, `Host` included (fetch cannot send a malformed or foreign Host).
 * `chunked` sends the body with `Transfer-Encoding: chunked` (in pieces, no `Content-Length`) instead of in one
 * piece with its length; `path` overrides the URL's path as sent (`//token`, `/TOKEN/`). Resolves with status,
 * headers and body text.
 */
export function rawRequest(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string | Buffer; chunked?: boolean; path?: string } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        path: opts.path ?? `${u.pathname}${u.search}`,
        method: opts.method ?? 'GET',
        headers: opts.headers ?? {},
        setHost: false,
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    if (opts.chunked && opts.body !== undefined) {
      const body = Buffer.from(opts.body);
      const half = Math.floor(body.length / 2);
      req.setHeader('transfer-encoding', 'chunked');
      req.write(body.subarray(0, half));
      req.end(body.subarray(half));
    } else req.end(opts.body);
  });
}
