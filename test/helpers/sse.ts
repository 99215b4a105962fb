/** A minimal EventSource for tests: collects `data:` events and `retry:` lines from a text/event-stream. */
export class SseClient {
  readonly events: Array<Record<string, unknown>> = [];
  readonly retries: number[] = [];
  raw = '';
  ended = false;
  readonly #controller = new AbortController();
  readonly done: Promise<void>;
  status = 0;
  headers: Headers | undefined;

  constructor(url: string, headers: Record<string, string> = {}) {
    this.done = this.#run(url, headers);
  }

  async #run(url: string, headers: Record<string, string>): Promise<void> {
    try {
      const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: this.#controller.signal });
      this.status = res.status;
      this.headers = res.headers;
      if (!res.body) return;
      const decoder = new TextDecoder();
      for await (const chunk of res.body) {
        this.raw += decoder.decode(chunk as Uint8Array, { stream: true });
        this.#parse();
      }
    } catch {
      // aborted
    } finally {
      this.ended = true;
    }
  }

  #parse() {
    const blocks = this.raw.split('\n\n');
    const complete = blocks.slice(0, -1);
    this.events.length = 0;
    this.retries.length = 0;
    for (const block of complete) {
      for (const line of block.split('\n')) {
        if (line.startsWith('data: ')) this.events.push(JSON.parse(line.slice(6)) as Record<string, unknown>);
        if (line.startsWith('retry: ')) this.retries.push(Number(line.slice(7)));
      }
    }
  }

  async until(predicate: () => boolean, timeoutMs = 5000): Promise<void> {
    const end = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > end) throw new Error(`timed out; events so far: ${JSON.stringify(this.events)} raw: ${this.raw.slice(0, 300)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close() {
    this.#controller.abort();
  }
}
