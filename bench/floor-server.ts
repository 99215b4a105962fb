import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

/**
 * The floor under a held wait: a bare Node HTTP server that holds every request open the way Handoff's lane does
 * (a token request's body read and the response pending; a stream's head and `retry` written) and does nothing else.
 * What one open request costs here is what Node itself costs; waits.ts measures it beside Handoff in the same run.
 * `GET /.well-known/openid-configuration` answers at once (the harness waits for it); the admin port's `/metrics`
 * reports the same process metrics Handoff's does, and the requests it holds as Handoff reports its waits.
 */
const held = new Set<ServerResponse>();
let streams = 0;

function publicHandler(req: IncomingMessage, res: ServerResponse): void {
  if (req.url === '/.well-known/openid-configuration') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{}');
    return;
  }
  held.add(res);
  const stream = req.method !== 'POST';
  if (stream) streams += 1;
  res.once('close', () => {
    held.delete(res);
    if (stream) streams -= 1;
  });
  if (!stream) {
    req.resume();
    return;
  }
  res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-store' });
  res.write('retry: 3000\n\ndata: {"state":"pending"}\n\n');
}

function adminHandler(_req: IncomingMessage, res: ServerResponse): void {
  const m = process.memoryUsage();
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.end(
    `nodejs_heap_size_used_bytes ${m.heapUsed}\nnodejs_heap_size_total_bytes ${m.heapTotal}\nnodejs_external_memory_bytes ${m.external}\n` +
      `handoff_waits_current{kind="held"} ${held.size - streams}\nhandoff_waits_current{kind="stream"} ${streams}\n`,
  );
}

const server = createServer(publicHandler);
server.listen(Number(process.env.PORT));
createServer(adminHandler).listen(Number(process.env.ADMIN_PORT), '127.0.0.1');
process.on('SIGTERM', () => {
  for (const res of held) res.destroy();
  process.exit(0);
});
