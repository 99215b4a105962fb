/**
 * A question on the terminal, the answer read from it; `hidden` echoes nothing while typing (a password). Only for a
 * terminal: scripts give their input on standard input instead (cli/commands.ts).
 */
export function prompt(question: string, opts: { hidden?: boolean } = {}): Promise<string> {
  const input = process.stdin;
  const output = process.stderr;
  return new Promise((resolve, reject) => {
    let answer = '';
    const wasRaw = input.isRaw;
    // Echo is off before the question appears, so an answer typed (or pasted) at once is never shown.
    input.setRawMode?.(true);
    output.write(question);
    input.setEncoding('utf8');
    input.resume();
    const done = (err?: Error) => {
      input.setRawMode?.(wasRaw);
      input.pause();
      input.off('data', onData);
      output.write('\n');
      if (err) reject(err);
      else resolve(answer);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done();
        if (ch === '\u0003') return done(new Error('cancelled'));
        if (ch === '\u0004' && !answer) return done();
        if (ch === '\u007f' || ch === '\b') {
          if (answer) {
            answer = answer.slice(0, -1);
            if (!opts.hidden) output.write('\b \b');
          }
          continue;
        }
        answer += ch;
        if (!opts.hidden) output.write(ch);
      }
    };
    input.on('data', onData);
  });
}
