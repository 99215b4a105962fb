import { randomInt } from 'node:crypto';

/**
 * Number matching (issue: relay-resistant cross-device sign-in). Once a phone has a code in hand, the screen that asked
 * (the desktop's login page, or a device whose client opted in) shows a two-digit number, and the phone offers three
 * numbers and asks which one that screen shows. Only the right pick approves. The numbers are random per code, made
 * when the phone claims it (never derivable from the QR code or the user code, never known to the phone before), and
 * kept in the database beside the code.
 *
 * What it blunts: an approval by someone with no screen in front of them (a relayed QR code, a phished device code):
 * they cannot tell which number to pick, and a wrong pick declines. Its limit: a live phishing page that relays the
 * number too (the attacker reads it off their screen and shows it to the victim) defeats it; only a proximity check
 * (a passkey over the FIDO hybrid transport) does not relay.
 */
export interface MatchNumbers {
  number: number;
  /** The three numbers the phone offers, the right one among them, in random order. */
  choices: number[];
}

export function newMatchNumbers(): MatchNumbers {
  const picked = new Set<number>();
  while (picked.size < 3) picked.add(randomInt(10, 100));
  const choices = [...picked];
  const number = choices[randomInt(0, 3)] as number;
  return { number, choices };
}

/** A picked number as a form sends it: a two-digit number, or nothing. */
export function pickedNumber(value: string | undefined): number | undefined {
  return value !== undefined && /^[1-9]\d$/.test(value) ? Number(value) : undefined;
}

/**
 * Whether a client's sign-ins use number matching: desktop scans unless the client turned it off
 * (`handoff_number_matching: false`); device codes only when the client turned it on (`true`), since a standard
 * RFC 8628 device cannot show a number.
 */
export function numberMatchingOn(metadata: Record<string, unknown> | undefined, kind: 'desktop' | 'device' = 'desktop'): boolean {
  const setting = metadata?.handoff_number_matching;
  return kind === 'desktop' ? setting !== false : setting === true;
}
