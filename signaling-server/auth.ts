import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Optional admission checks, both off unless configured: HMAC-signed expiring tokens (a shared
 * secret from the environment; whoever hands out extensions or accounts signs tokens with it) and an
 * Origin allow-list. Browsers cannot set headers on a WebSocket, so the token travels as the
 * `token` query parameter. Pure: no I/O, the clock is passed in.
 *
 * Token: `<subject>.<expires, unix seconds>.<base64url HMAC-SHA256 of "subject.expires">`.
 */
export type TokenVerdict =
  | { ok: true; subject: string }
  | { ok: false; reason: 'token_missing' | 'token_malformed' | 'token_expired' | 'token_bad_signature' };

const SUBJECT = /^[A-Za-z0-9_-]{1,64}$/;

function sign(secret: string, payload: string): string {
  return createHmac('sha256', secret).update(payload).digest('base64url');
}

export function issueToken(secret: string, subject: string, expiresAtSeconds: number): string {
  if (!SUBJECT.test(subject)) throw new Error('token subject: 1-64 characters of A-Z a-z 0-9 _ -');
  const payload = `${subject}.${Math.floor(expiresAtSeconds)}`;
  return `${payload}.${sign(secret, payload)}`;
}

export function verifyToken(secret: string, token: string | null, nowSeconds: number): TokenVerdict {
  if (!token) return { ok: false, reason: 'token_missing' };
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'token_malformed' };
  const [subject, expires, signature] = parts as [string, string, string];
  if (!SUBJECT.test(subject) || !/^\d{1,12}$/.test(expires)) return { ok: false, reason: 'token_malformed' };
  const expected = Buffer.from(sign(secret, `${subject}.${expires}`));
  const given = Buffer.from(signature);
  if (given.length !== expected.length || !timingSafeEqual(given, expected))
    return { ok: false, reason: 'token_bad_signature' };
  if (Number(expires) <= nowSeconds) return { ok: false, reason: 'token_expired' };
  return { ok: true, subject };
}

/**
 * Origin allow-list entries are exact origins or a scheme with a wildcard host, e.g.
 * `chrome-extension://abcdef…` or `moz-extension://*` (Firefox gives every install its own UUID).
 */
export function originAllowed(allowList: readonly string[], origin: string | undefined): boolean {
  if (allowList.length === 0) return true;
  if (!origin) return false;
  return allowList.some((entry) => {
    if (entry === origin) return true;
    const wildcard = /^([a-z][a-z0-9+.-]*):\/\/\*$/.exec(entry);
    return wildcard !== null && origin.startsWith(`${wildcard[1]}://`);
  });
}
