// Makes a checkout ready to run, doing only what is out of date, so `npm start` and `npm test` work on a fresh clone
// and start at once on a prepared one:
//   1. installs dependencies from the lockfile (`npm ci`) when node_modules is missing or was installed from another
//      lockfile (its hash is kept in node_modules/.handoff-lockfile);
//   2. compiles TypeScript when a source file is newer than the last build (the stamp is dist/.handoff-build).
// Plain JavaScript on purpose: it runs before the pinned Node and the compiler are installed. (The npm scripts then
// run `node_modules/.bin/node` by its path: the shell already looked `node` up once, before the install.)
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
const say = (line) => process.stderr.write(`handoff: ${line}\n`);

function ensureInstalled() {
  const lock = readFileSync(join(root, 'package-lock.json'));
  const want = createHash('sha256').update(lock).digest('hex');
  const mark = join(root, 'node_modules', '.handoff-lockfile');
  const have = existsSync(mark) ? readFileSync(mark, 'utf8').trim() : '';
  if (have === want && existsSync(join(root, 'node_modules', '.bin', 'tsc'))) return;
  say('installing dependencies from package-lock.json (npm ci)');
  execFileSync(npm, ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  writeFileSync(mark, `${want}\n`);
}

/** The newest modification time of any file the build reads. */
function newestSource() {
  let newest = 0;
  const visit = (path) => {
    const s = statSync(path);
    if (s.isDirectory()) for (const name of readdirSync(path)) visit(join(path, name));
    else if (s.mtimeMs > newest) newest = s.mtimeMs;
  };
  for (const dir of ['src', 'migrations', 'test', 'bench', 'tools']) if (existsSync(join(root, dir))) visit(join(root, dir));
  for (const file of ['tsconfig.json', 'package-lock.json']) visit(join(root, file));
  return newest;
}

function ensureBuilt() {
  const stamp = join(root, 'dist', '.handoff-build');
  const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
  const newest = newestSource();
  if (built >= newest) return;
  const started = Date.now();
  execFileSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
  mkdirSync(dirname(stamp), { recursive: true });
  // The stamp's time is that of the newest source it covers, so an edit made during the build is seen next time.
  writeFileSync(stamp, `${new Date(newest).toISOString()}\n`);
  utimesSync(stamp, newest / 1000, newest / 1000);
  say(`compiled in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

ensureInstalled();
if (!process.argv.includes('--install-only')) ensureBuilt();
