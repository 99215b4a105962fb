import type { Store } from '../store/index.js';

/** Runs the store's purge every `intervalSeconds`; errors are reported, never thrown into the event loop. */
export function startPurger(
  store: Store,
  opts: { batchSize: number; graceSeconds: number; intervalSeconds: number },
  onRun: (deleted: number, err?: unknown) => void,
): () => void {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    store
      .purge(opts)
      .then((n) => onRun(n))
      .catch((err: unknown) => onRun(0, err))
      .finally(() => {
        running = false;
      });
  }, opts.intervalSeconds * 1000);
  timer.unref();
  return () => clearInterval(timer);
}
