import { enableCompileCache } from 'node:module';

/**
 * Process entry. Before any other module is loaded, Node is told to keep the code it compiles for Handoff and its
 * libraries in its on-disk compile cache (under the system's temporary directory, per Node version and file), so
 * every start after the first skips most of that work: loading the modules is about a second of a start here, and
 * the cache takes a fifth off it (bench/README.md, start-up). Where the directory cannot be written, Node simply
 * compiles as before. The process itself is src/run.ts.
 */
enableCompileCache();
await import('./run.js');
