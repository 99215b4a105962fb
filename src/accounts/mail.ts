import type { Config } from '../config/schema.js';
import type { Logger } from '../log.js';

/**
 * Outgoing mail (address confirmations, password resets) through SMTP with nodemailer, the mail library of the Node
 * ecosystem (pooled connections, STARTTLS, SMTP URLs with credentials, well kept for fifteen years).
 *
 * Messages go out one at a time from an in-process queue, after the request that asked has been answered: a "Forgot
 * password" answer never waits on an SMTP server, so its timing says nothing about whether a mail was sent. The queue
 * is bounded (`mail.maxQueued`; beyond it a message is dropped and logged, so a flood cannot grow memory).
 *
 * Without `SMTP_URL`:
 * - outside production (a developer's `npm start`), each message is written to the log, link included, so sign-up
 *   and recovery can be tried with no mail server; `npm start` says so when it starts;
 * - in production nothing is sent and the log says only that a message was not sent (never its link): the pages
 *   then offer no mailed links at all ({@link Mailer.delivers} is false).
 */
export interface Message {
  to: string;
  subject: string;
  text: string;
  /** The link the message carries (written to the log in development only). */
  link: string;
}

export interface Mailer {
  /** `smtp`: sent; `log`: written to the log (development); `off`: nothing can be sent (production, no SMTP_URL). */
  mode: 'smtp' | 'log' | 'off';
  /** Whether mailed links can reach anyone, i.e. whether pages may offer them. */
  delivers: boolean;
  /** Queues a message (never throws, never waits for the server). */
  send(message: Message): void;
  /**
   * Queues work that decides whether to send (a "Forgot password" look-up): it runs in turn, after the request that
   * asked was answered, and the message it returns, if any, is sent. Its errors are logged, never thrown.
   */
  later(job: () => Promise<Message | undefined>): void;
  /** Resolves once every queued message has been handed on (tests, shutdown). */
  idle(): Promise<void>;
  close(): Promise<void>;
}

type Transport = { sendMail(m: { from: string; to: string; subject: string; text: string }): Promise<unknown>; close(): void };

export function createMailer(config: Config, log: Logger): Mailer {
  const mode: Mailer['mode'] = config.mail.smtpUrl ? 'smtp' : config.env === 'production' ? 'off' : 'log';
  let transport: Promise<Transport> | undefined;
  // Loaded on the first message: most starts never send one.
  const connect = () => {
    transport ??= import('nodemailer').then((m) => m.default.createTransport(config.mail.smtpUrl as string) as unknown as Transport);
    return transport;
  };
  let queued = 0;
  let chain: Promise<void> = Promise.resolve();

  async function deliver(m: Message): Promise<void> {
    if (mode === 'log') {
      log.info('mail not sent (no SMTP_URL): written here instead', { to: m.to, subject: m.subject, link: m.link, body: m.text });
      return;
    }
    if (mode === 'off') {
      log.warn('mail not sent: SMTP_URL is not set', { subject: m.subject });
      return;
    }
    try {
      await (await connect()).sendMail({ from: config.mail.from, to: m.to, subject: m.subject, text: m.text });
      log.info('mail sent', { subject: m.subject });
    } catch (err) {
      // The error of an SMTP client may quote the server's words, never the message: it is safe to log.
      log.warn('mail could not be sent', { subject: m.subject, err });
    }
  }

  return {
    mode,
    delivers: mode !== 'off',
    send(m) {
      this.later(async () => m);
    },
    later(job) {
      if (queued >= config.mail.maxQueued) {
        log.warn('mail dropped: the queue is full', { queued });
        return;
      }
      queued += 1;
      chain = chain
        .then(job)
        .then((m) => (m ? deliver(m) : undefined))
        .catch((err: unknown) => log.warn('mail job failed', { err }))
        .finally(() => {
          queued -= 1;
        });
    },
    idle: () => chain,
    async close() {
      await chain;
      if (transport) (await transport).close();
    },
  };
}
