import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** The CLI and the process entry as built (`dist/src/...`), run the way an operator runs them. */
export const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
export const MAIN = fileURLToPath(new URL('../../src/main.js', import.meta.url));

/** Runs `node <file> <args>` with only PATH and `env`, `input` piped on standard input (so it is not a terminal). */
export function run(
  file: string,
  args: string[],
  env: Record<string, string>,
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [file, ...args], { env: { PATH: process.env.PATH ?? '', ...env } }, (err, stdout, stderr) => {
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
    child.stdin?.end(input ?? '');
  });
}

/**
 * Runs a command on a pseudo-terminal (script(1)), typing each answer once the prompt before it has appeared; a
 * prompt is what `prompts` matches (global), a password's by default.
 */
export function onTerminal(
  command: string,
  env: Record<string, string>,
  answers: string[],
  prompts = /password[^:]*: /gi,
): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('script', ['-qfec', command, '/dev/null'], { env: { PATH: process.env.PATH ?? '', TERM: 'dumb', ...env } });
    let output = '';
    let asked = 0;
    const onData = (d: Buffer) => {
      output += d.toString();
      const seen = (output.match(prompts) ?? []).length;
      while (asked < seen && asked < answers.length) child.stdin.write(`${answers[asked++]}\r`);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => resolve({ code: code ?? 1, output }));
  });
}

/**
 * Resolves with the first match of `pattern` in a running process's output (stdout and stderr as `output()` has
 * gathered them), as soon as it appears; rejects if the process exits first.
 */
export function untilOutput(h: { child: ChildProcess; output: () => string }, pattern: RegExp): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = pattern.exec(h.output());
      if (!m) return;
      stop();
      resolve(m);
    };
    const exited = (code: number | null) => {
      stop();
      reject(new Error(`exited with ${code} before ${pattern} appeared:\n${h.output()}`));
    };
    const stop = () => {
      h.child.stdout?.off('data', check);
      h.child.stderr?.off('data', check);
      h.child.off('exit', exited);
    };
    h.child.stdout?.on('data', check);
    h.child.stderr?.on('data', check);
    h.child.once('exit', exited);
    check();
  });
}
