import { headerValue } from './headers';
import { PeerlaneError } from '../errors';
import type { RequestHead, ResponseHead } from '../protocol/frames';

/**
 * Resuming a GET whose exit died mid-body: ask another exit for the rest with `Range: bytes=N-` and
 * `If-Range` on the first response's validator, and accept only a 206 that starts exactly at N of
 * the same representation. Anything else fails with the original error: splicing two different
 * versions of a resource would be worse than failing.
 */
export interface ResumePlan {
  request: RequestHead;
  start: number;
  total: number | null;
}

/** Idempotent per RFC 9110, or made so by the client with an Idempotency-Key. */
export function isIdempotentRequest(request: RequestHead): boolean {
  const method = request.method.toUpperCase();
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return true;
  return (method === 'POST' || method === 'PATCH') && headerValue(request.headers, 'idempotency-key') !== null;
}

export function planResume(request: RequestHead, response: ResponseHead, received: number): ResumePlan | null {
  if (request.method.toUpperCase() !== 'GET' || response.status !== 200 || received <= 0) return null;
  if (headerValue(request.headers, 'range') !== null) return null;
  const encoding = headerValue(response.headers, 'content-encoding');
  // Byte offsets of a decoded body do not match the encoded representation a Range addresses.
  if (encoding !== null && encoding.toLowerCase() !== 'identity') return null;
  const etag = headerValue(response.headers, 'etag');
  const validator = etag && !etag.startsWith('W/') ? etag : headerValue(response.headers, 'last-modified');
  if (!validator) return null;
  const length = headerValue(response.headers, 'content-length');
  const total = length !== null && /^\d+$/.test(length) ? Number(length) : null;
  if (total !== null && received >= total) return null;
  const headers = request.headers.filter(([name]) => !['range', 'if-range'].includes(name.toLowerCase()));
  headers.push(['range', `bytes=${received}-`], ['if-range', validator]);
  return { request: { ...request, headers }, start: received, total };
}

/** Null when `response` continues the original exactly where the plan said. */
export function checkResumed(plan: ResumePlan, response: ResponseHead): PeerlaneError | null {
  if (response.status !== 206)
    return new PeerlaneError('peer_lost', `resume refused: the destination answered ${response.status}, not 206`);
  const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(headerValue(response.headers, 'content-range') ?? '');
  if (!range || Number(range[1]) !== plan.start)
    return new PeerlaneError('peer_lost', 'resume refused: the destination sent a different byte range');
  if (plan.total !== null && range[3] !== String(plan.total))
    return new PeerlaneError('peer_lost', 'resume refused: the resource changed size');
  return null;
}
