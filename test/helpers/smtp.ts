import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** A mail as the test reads it: who it went to, its subject and text, and the Handoff link in it. */
export interface Mail {
  to: string;
  subject: string;
  text: string;
  link: string | undefined;
}

/**
 * A real SMTP server on loopback (the smtp-server package, the peer nodemailer is tested against): Handoff sends to
 * it over SMTP as it would to any relay, and each message is parsed (mailparser) and handed to whoever waits for it.
 */
export async function startSmtp(): Promise<{ url: string; mails: Mail[]; next(): Promise<Mail>; close(): Promise<void> }> {
  const mails: Mail[] = [];
  const waiting: Array<(m: Mail) => void> = [];
  let taken = 0;
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onData(stream, _session, callback) {
      simpleParser(stream).then(
        (parsed: ParsedMail) => {
          const to = Array.isArray(parsed.to) ? parsed.to.map((a) => a.text).join(', ') : (parsed.to?.text ?? '');
          const text = parsed.text ?? '';
          const mail = { to, subject: parsed.subject ?? '', text, link: /https?:\/\/\S+\/account\/\S+/.exec(text)?.[0] };
          mails.push(mail);
          waiting.shift()?.(mail);
          callback();
        },
        (err: Error) => callback(err),
      );
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `smtp://127.0.0.1:${port}`,
    mails,
    /** The next mail not yet taken, waiting for it if it has not arrived. */
    next() {
      const ready = mails[taken];
      taken += 1;
      if (ready) return Promise.resolve(ready);
      return new Promise<Mail>((resolve) => waiting.push(resolve));
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
