import http from 'node:http';

/**
 * One load-generating process of the fleet benchmark (fleet.ts): holds its share of the waits open as devices and
 * waiting screens do, and behaves as they do when something goes wrong. A held token request that is answered
 * `authorization_pending` (its deadline, or a shutdown) is sent again; one refused with 503 or 429 is sent again
 * after `Retry-After`; one whose connection fails goes to the next instance (a load balancer's retry). A stream
 * that ends or fails before a final state reconnects to the next instance after its `retry` hint, and takes the
 * state it is sent first. Every answer that matters is reported to the parent over IPC with its time.
 *
 * Run as a child process with IPC; it opens nothing until told.
 */
interface WaitSpec {
  /** The code's index in the run. */
  i: number;
  deviceCode: string;
  /** The status stream's path (`/device/status/<handle>`). */
  statusPath: string;
  /** Instance indexes: where the held request and the stream go first. */
  held: number;
  stream: number;
}

type Command =
  | { type: 'open'; target: 'handoff' | 'floor'; bases: string[]; waits: WaitSpec[]; kind: 'both' | 'held' | 'stream' }
  | { type: 'dead'; instance: number }
  | { type: 'drop'; ids: number[] }
  | { type: 'quiet' }
  | { type: 'tally' }
  | { type: 'close' };

const SOURCES = Array.from({ length: 16 }, (_, i) => `127.0.0.${i + 2}`);
let nextSource = 0;
const source = () => SOURCES[nextSource++ % SOURCES.length] as string;
const agent = new http.Agent({ keepAlive: false, maxSockets: Number.POSITIVE_INFINITY });
const now = () => performance.timeOrigin + performance.now();
const send = (msg: unknown) => process.send?.(msg);

let bases: string[] = [];
const dead = new Set<number>();
/** After `quiet`: nothing reconnects or is sent again (the instances are being shut down). */
let quiet = false;
const open = new Set<http.ClientRequest>();
/** Each code's open requests, and the codes whose clients went away for good (`drop`). */
const byCode = new Map<number, Set<http.ClientRequest>>();
const dropped = new Set<number>();
function track(i: number, req: http.ClientRequest): void {
  open.add(req);
  let set = byCode.get(i);
  if (!set) {
    set = new Set();
    byCode.set(i, set);
  }
  set.add(req);
  req.once('close', () => {
    open.delete(req);
    set.delete(req);
  });
}
/** Codes whose stream has had its first event (reported once each). */
const opened = new Set<number>();

const tally = {
  heldTokens: 0,
  heldPendingAnswers: 0,
  heldRefusals: 0,
  heldNetworkErrors: 0,
  heldResent: 0,
  heldAnsweredAtShutdown: 0,
  heldCutAtShutdown: 0,
  streamsFinal: 0,
  streamsRetryAtShutdown: 0,
  streamsCutAtShutdown: 0,
  streamReconnects: 0,
  streamRefusals: 0,
  reattachedAfterKill: 0,
  lastReattachAt: 0,
};

/** Another live instance than `from`, spread by `salt` (a load balancer spreads a dead instance's clients). */
function nextInstance(from: number, salt: number): number {
  const alive = bases.map((_, k) => k).filter((k) => k !== from && !dead.has(k));
  return alive.length ? (alive[salt % alive.length] as number) : from;
}

/** A client of the killed instance got its first answer from another one. */
function back(): void {
  tally.reattachedAfterKill += 1;
  tally.lastReattachAt = now();
}

function later(ms: number, fn: () => void): void {
  setTimeout(fn, ms).unref();
}

/** A held token request for one code, sent again until it gets tokens (or the run goes quiet). */
function held(w: WaitSpec, instance: number, afterFailure = false): void {
  if (dropped.has(w.i)) return;
  const body = new URLSearchParams({
    grant_type: 'urn:ietf:params:oauth:grant-type:device_code',
    device_code: w.deviceCode,
    client_id: 'tv',
  });
  const text = body.toString();
  const req = http.request(`${bases[instance]}/token`, {
    method: 'POST',
    agent,
    localAddress: source(),
    headers: { 'content-type': 'application/x-www-form-urlencoded', prefer: 'wait=300', 'content-length': Buffer.byteLength(text) },
  });
  track(w.i, req);
  req.on('response', (res) => {
    if (afterFailure) back();
    let data = '';
    res.setEncoding('utf8');
    res.on('data', (d: string) => {
      data += d;
    });
    res.on('end', () => {
      open.delete(req);
      const at = now();
      if (quiet) {
        tally.heldAnsweredAtShutdown += 1;
        return;
      }
      if (res.statusCode === 200 && data.includes('access_token')) {
        tally.heldTokens += 1;
        send({ type: 'answer', i: w.i, kind: 'held', at, instance });
        return;
      }
      if (res.statusCode === 503 || res.statusCode === 429) {
        tally.heldRefusals += 1;
        later(Number(res.headers['retry-after'] ?? 5) * 1000, () => held(w, nextInstance(instance, w.i)));
        return;
      }
      if (data.includes('authorization_pending')) {
        tally.heldPendingAnswers += 1;
        tally.heldResent += 1;
        held(w, instance);
        return;
      }
      send({ type: 'unexpected', i: w.i, kind: 'held', status: res.statusCode, body: data.slice(0, 200) });
    });
    res.on('error', () => {});
  });
  req.on('error', (err: NodeJS.ErrnoException) => {
    open.delete(req);
    if (dropped.has(w.i)) return;
    if (quiet) {
      tally.heldCutAtShutdown += 1;
      return;
    }
    tally.heldNetworkErrors += 1;
    // Refused: that instance is gone, so the next one, as a load balancer retries. Cut: the same one again first.
    if (err.code === 'ECONNREFUSED') dead.add(instance);
    held(w, dead.has(instance) ? nextInstance(instance, w.i) : instance, true);
  });
  req.end(text);
}

/** A waiting screen's stream for one code: reconnects until it has seen a final state (or the run goes quiet). */
function stream(w: WaitSpec, instance: number, reconnect = false): void {
  if (dropped.has(w.i)) return;
  const req = http.get(`${bases[instance]}${w.statusPath}`, { agent, localAddress: source(), headers: { accept: 'text/event-stream' } });
  track(w.i, req);
  let final = false;
  let sawRetry = false;
  let first = true;
  req.on('response', (res) => {
    if (reconnect) back();
    if (res.statusCode !== 200) {
      res.resume();
      open.delete(req);
      tally.streamRefusals += 1;
      if (!quiet) later(Number(res.headers['retry-after'] ?? 5) * 1000, () => stream(w, nextInstance(instance, w.i)));
      return;
    }
    res.setEncoding('utf8');
    let buf = '';
    res.on('data', (d: string) => {
      buf += d;
      for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (/^retry: 1000$/m.test(block)) sawRetry = true;
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (!data) continue;
        const state = (JSON.parse(data) as { state: string }).state;
        const at = now();
        if (first) {
          first = false;
          if (!opened.has(w.i)) {
            opened.add(w.i);
            send({ type: 'stream-open' });
          }
        }
        if (state === 'approved' || state === 'denied' || state === 'expired') {
          final = true;
          send({ type: 'answer', i: w.i, kind: 'stream', at, instance, state });
        }
      }
    });
    res.on('end', () => ended());
    res.on('error', () => ended());
  });
  req.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'ECONNREFUSED') dead.add(instance);
    ended();
  });
  let done = false;
  function ended() {
    if (done) return;
    done = true;
    open.delete(req);
    if (dropped.has(w.i)) return;
    if (final) {
      tally.streamsFinal += 1;
      return;
    }
    if (quiet) {
      if (sawRetry) tally.streamsRetryAtShutdown += 1;
      else tally.streamsCutAtShutdown += 1;
      return;
    }
    tally.streamReconnects += 1;
    // The stream ended early or failed: again after its retry hint, to another instance if this one is gone.
    later(sawRetry ? 1000 : 100 + Math.random() * 900, () => stream(w, dead.has(instance) ? nextInstance(instance, w.i) : instance, true));
  }
}

/** The floor: the same requests to a bare Node server that holds them and answers nothing. */
function floorHeld(base: string): void {
  const req = http.request(`${base}/token`, { method: 'POST', agent, localAddress: source() });
  req.on('error', () => {});
  open.add(req);
  req.end('grant_type=x');
}

function floorStream(base: string): void {
  const req = http.get(`${base}/device/status/x`, { agent, localAddress: source(), headers: { accept: 'text/event-stream' } }, (res) => {
    res.once('data', () => send({ type: 'stream-open' }));
    res.on('error', () => {});
  });
  req.on('error', () => {});
  open.add(req);
}

process.on('message', (msg: Command) => {
  if (msg.type === 'open') {
    bases = msg.bases;
    dead.clear();
    opened.clear();
    dropped.clear();
    byCode.clear();
    quiet = false;
    // Paced: a few hundred connections at a time, so the listeners' accept queues never overflow.
    let k = 0;
    const step = () => {
      for (const end = Math.min(k + 250, msg.waits.length); k < end; k += 1) {
        const w = msg.waits[k] as WaitSpec;
        if (msg.target === 'floor') {
          if (msg.kind !== 'stream') floorHeld(bases[w.held] as string);
          if (msg.kind !== 'held') floorStream(bases[w.stream] as string);
        } else {
          if (msg.kind !== 'stream') held(w, w.held);
          if (msg.kind !== 'held') stream(w, w.stream);
        }
      }
      if (k < msg.waits.length) setTimeout(step, 20);
      else send({ type: 'sent' });
    };
    step();
  } else if (msg.type === 'dead') dead.add(msg.instance);
  else if (msg.type === 'drop') {
    for (const i of msg.ids) {
      dropped.add(i);
      for (const r of byCode.get(i) ?? []) r.destroy();
    }
    send({ type: 'dropped' });
  } else if (msg.type === 'quiet') quiet = true;
  else if (msg.type === 'tally') send({ type: 'tally', tally, open: open.size });
  else if (msg.type === 'close') {
    quiet = true;
    for (const r of open) r.destroy();
    open.clear();
    send({ type: 'closed' });
  }
});
send({ type: 'ready' });
