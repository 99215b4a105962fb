import { PGlite } from '@electric-sql/pglite';

/**
 * Creates a new embedded data directory (PGlite's initdb), run as a child process by store/db.ts: initdb's own
 * WebAssembly instance and the memory it touched are given back to the system when this process ends, instead of
 * staying in Handoff's resident memory for good (about 270 MiB measured; bench/README.md, "PGlite memory").
 *
 * Usage: node pglite-init.js <dir> <start parameters as JSON>
 */
const [dir, params] = process.argv.slice(2);
if (!dir || !params) {
  process.stderr.write('usage: pglite-init <dir> <start parameters as JSON>\n');
  process.exit(2);
}
const db = new PGlite(dir, { startParams: JSON.parse(params) as string[] });
await db.waitReady;
await db.close();
