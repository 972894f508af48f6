import { describe, expect, it } from 'vitest';
import { checkResumed, planResume } from '../../extension/core/http/range-resume';
import type { RequestHead, ResponseHead } from '../../extension/core/protocol/frames';

const GET: RequestHead = { method: 'GET', url: 'https://example.com/file', headers: [['accept', '*/*']] };
const head = (headers: [string, string][], status = 200): ResponseHead => ({ status, statusText: '', headers });
const STRONG = head([
  ['etag', '"v1"'],
  ['content-length', '100'],
]);

describe('resuming a body from another exit (Range + If-Range)', () => {
  it('asks for the rest from the byte received, under the strong ETag, keeping the other headers', () => {
    expect(planResume(GET, STRONG, 40)).toEqual({
      request: {
        ...GET,
        headers: [
          ['accept', '*/*'],
          ['range', 'bytes=40-'],
          ['if-range', '"v1"'],
        ],
      },
      start: 40,
      total: 100,
    });
  });

  it('falls back to Last-Modified when the ETag is weak or absent, and works without a length', () => {
    const modified = 'Mon, 07 Dec 2026 10:00:00 GMT';
    expect(
      planResume(
        GET,
        head([
          ['etag', 'W/"weak"'],
          ['last-modified', modified],
        ]),
        1,
      ),
    ).toMatchObject({ request: { headers: expect.arrayContaining([['if-range', modified]]) }, total: null });
    expect(planResume(GET, head([['last-modified', modified]]), 5)).toMatchObject({ start: 5, total: null });
  });

  it('does not resume what a range cannot address or would not change', () => {
    const cases: [string, RequestHead, ResponseHead, number][] = [
      ['a POST', { ...GET, method: 'POST' }, STRONG, 40],
      ['a partial answer', GET, head(STRONG.headers, 206), 40],
      ['nothing received yet', GET, STRONG, 0],
      ['a request that asked for a range itself', { ...GET, headers: [['Range', 'bytes=0-9']] }, STRONG, 5],
      ['an encoded body', GET, head([...STRONG.headers, ['content-encoding', 'gzip']]), 40],
      ['no validator', GET, head([['content-length', '100']]), 40],
      ['only a weak ETag', GET, head([['etag', 'W/"weak"']]), 40],
      ['everything received', GET, STRONG, 100],
    ];
    expect(
      cases
        .filter(([, request, response, received]) => planResume(request, response, received) !== null)
        .map(([name]) => name),
    ).toEqual([]);
    // A lowercase get is a GET; an identity encoding is no encoding.
    expect(planResume({ ...GET, method: 'get' }, STRONG, 40)).not.toBeNull();
    expect(planResume(GET, head([...STRONG.headers, ['content-encoding', 'Identity']]), 40)).not.toBeNull();
    // A length that is not a number is no length.
    expect(
      planResume(
        GET,
        head([
          ['etag', '"v1"'],
          ['content-length', '1e3'],
        ]),
        40,
      ),
    ).toMatchObject({ total: null });
  });

  it('accepts only a 206 that starts at the planned byte of a resource of the same size', () => {
    const plan = planResume(GET, STRONG, 40)!;
    expect(checkResumed(plan, head([['content-range', 'bytes 40-99/100']], 206))).toBeNull();
    expect(checkResumed(plan, head([['content-range', 'bytes 40-99/100']], 200))).toMatchObject({
      category: 'peer_lost',
      message: 'resume refused: the destination answered 200, not 206',
    });
    expect(checkResumed(plan, head([['content-range', 'bytes 41-99/100']], 206))?.message).toBe(
      'resume refused: the destination sent a different byte range',
    );
    expect(checkResumed(plan, head([], 206))?.message).toBe(
      'resume refused: the destination sent a different byte range',
    );
    expect(checkResumed(plan, head([['content-range', 'bytes 40-119/120']], 206))?.message).toBe(
      'resume refused: the resource changed size',
    );
    // With no known total, any total is accepted, as is an unknown one.
    const open = planResume(GET, head([['etag', '"v1"']]), 40)!;
    expect(checkResumed(open, head([['content-range', 'bytes 40-99/*']], 206))).toBeNull();
    expect(checkResumed(open, head([['content-range', 'bytes 40-99/100']], 206))).toBeNull();
  });
});
