import { headerValue, type Header } from '../http/headers';
import type { RequestHead, ResponseHead } from '../protocol/frames';

/**
 * Checked exits: now and then the requester asks a second exit for a small public GET it just got,
 * and compares. Pure: the decisions only (which answers may be compared, when to ask a third, who
 * is odd one out); the background fetches and hashes.
 *
 * Only answers that must be identical are compared: a GET without a body whose 200 response carries
 * a strong ETag (RFC 9110 §8.8.3: a strong validator names one exact representation), is not marked
 * private or no-store, and is small. Two answers are the same when their ETag and the SHA-256 of the
 * body match. Two that differ say that one exit lies or the origin changed between the fetches; a
 * third answer decides: the one that differs from the two others that agree is flagged. Three
 * different answers decide nothing (an origin that varies: counted as inconclusive).
 */
export const MAX_CHECKED_BYTES = 256 * 1024;

/** A strong ETag (`"…"`, not `W/"…"`), or null. */
export function strongEtag(headers: readonly Header[]): string | null {
  const etag = headerValue(headers, 'etag')?.trim() ?? null;
  return etag !== null && /^"[^"]*"$/.test(etag) ? etag : null;
}

/** Whether this request and its answer may be compared with another exit's; null if so, else why not. */
export function whyNotCheckable(request: RequestHead, response: ResponseHead): string | null {
  if (request.method.toUpperCase() !== 'GET') return 'not a GET';
  if (!/^https?:/i.test(request.url)) return 'not http(s)';
  if (request.headers.some(([name]) => /^(range|authorization|cookie|if-.*)$/i.test(name)))
    return 'conditional, ranged or credentialed';
  if (response.status !== 200) return 'not a 200';
  if (strongEtag(response.headers) === null) return 'no strong validator';
  if (/\b(private|no-store)\b/i.test(headerValue(response.headers, 'cache-control') ?? '')) return 'not public';
  const length = Number(headerValue(response.headers, 'content-length') ?? NaN);
  if (Number.isFinite(length) && length > MAX_CHECKED_BYTES) return 'too large';
  return null;
}

/** One exit's answer, reduced to what must match. */
export interface CheckAnswer {
  peerId: string;
  /** ETag and body digest together. */
  fingerprint: string;
}

export type CheckVerdict =
  /** Ask one more exit, none of these. */
  | { kind: 'ask-another'; exclude: string[] }
  | { kind: 'agree' }
  | { kind: 'flag'; peerId: string }
  | { kind: 'inconclusive' };

export function judgeAnswers(answers: readonly CheckAnswer[]): CheckVerdict {
  const exclude = answers.map((answer) => answer.peerId);
  if (answers.length < 2) return { kind: 'ask-another', exclude };
  const counts = new Map<string, number>();
  for (const answer of answers) counts.set(answer.fingerprint, (counts.get(answer.fingerprint) ?? 0) + 1);
  if (counts.size === 1) return { kind: 'agree' };
  if (answers.length === 2) return { kind: 'ask-another', exclude };
  // Three or more: a fingerprint most agree on, and exactly one exit outside it.
  const [majority, votes] = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]!;
  const odd = answers.filter((answer) => answer.fingerprint !== majority);
  return votes >= 2 && odd.length === 1 ? { kind: 'flag', peerId: odd[0]!.peerId } : { kind: 'inconclusive' };
}

/** Requests are drawn for a check only while fewer than this many run: checks are background work on others' bandwidth. */
export const MAX_CONCURRENT_CHECKS = 2;

/** What an answer is compared by: the ETag and the SHA-256 of the (decoded) body, as one string. */
export function fingerprintOf(status: number, etag: string | null, bodySha256Hex: string): string {
  return `${status} ${etag ?? '-'} ${bodySha256Hex}`;
}

/** Whether this answer is one to check: drawn with probability `percent`/100 (`random` in [0, 1)). */
export function drawnForCheck(percent: number, random: number): boolean {
  return percent > 0 && random * 100 < percent;
}

/**
 * An exit this install caught altering an answer: it is never used again (the transport asks
 * signaling for others, refuses it) and the popup lists it. Kept in storage.local under
 * FLAGGED_EXITS_STORAGE_KEY, newest first, bounded.
 */
export interface FlaggedExit {
  peerId: string;
  /** Epoch ms. */
  at: number;
  /** The URL whose answer differed (shown without its query, as the request log shows URLs). */
  url: string;
}

export const FLAGGED_EXITS_STORAGE_KEY = 'flaggedExits';
export const MAX_FLAGGED_EXITS = 64;

/** Tolerant read of the stored list: malformed entries are dropped. */
export function parseFlaggedExits(stored: unknown): FlaggedExit[] {
  if (!Array.isArray(stored)) return [];
  const out: FlaggedExit[] = [];
  for (const entry of stored) {
    if (typeof entry !== 'object' || entry === null) continue;
    const { peerId, at, url } = entry as Record<string, unknown>;
    if (
      typeof peerId === 'string' &&
      peerId.length > 0 &&
      peerId.length <= 128 &&
      typeof at === 'number' &&
      Number.isFinite(at) &&
      typeof url === 'string'
    )
      out.push({ peerId, at, url: url.slice(0, 512) });
  }
  return out.slice(0, MAX_FLAGGED_EXITS);
}

/** The list with `flagged` added first (once per exit), bounded. */
export function withFlagged(list: readonly FlaggedExit[], flagged: FlaggedExit): FlaggedExit[] {
  return [flagged, ...list.filter((entry) => entry.peerId !== flagged.peerId)].slice(0, MAX_FLAGGED_EXITS);
}
