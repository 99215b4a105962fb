/**
 * User codes: 8 letters from oidc-provider's base-20 alphabet (no vowels, so no words), shown as XXXX-XXXX.
 * People type them in any case, with spaces or dashes; {@link normalizeUserCode} removes that before any lookup
 * or attempt counting (RFC 8628 6.1).
 */
export const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';
const WELL_FORMED = new RegExp(`^[${USER_CODE_ALPHABET}]{8}$`);

/** Upper-cases and drops spaces, dashes and other separators; returns undefined when the result is not a code. */
export function normalizeUserCode(input: string): string | undefined {
  const compact = input.toUpperCase().replace(/[\s\-_.·]/g, '');
  return WELL_FORMED.test(compact) ? compact : undefined;
}

/** The display form, XXXX-XXXX. */
export function formatUserCode(code: string): string {
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}
