import { describe, expect, it } from 'vitest';
import {
  drawnForCheck,
  fingerprintOf,
  judgeAnswers,
  MAX_CHECKED_BYTES,
  MAX_FLAGGED_EXITS,
  parseFlaggedExits,
  strongEtag,
  whyNotCheckable,
  withFlagged,
} from '../../extension/core/checks/exit-checks';
import type { RequestHead, ResponseHead } from '../../extension/core/protocol/frames';

const get = (headers: [string, string][] = []): RequestHead => ({
  method: 'GET',
  url: 'https://example.com/app.js',
  headers,
});
const ok = (headers: [string, string][]): ResponseHead => ({ status: 200, statusText: 'OK', headers });

describe('which answers may be compared', () => {
  it('a public GET answered 200 with a strong ETag and a small body', () => {
    expect(
      whyNotCheckable(
        get([['accept', '*/*']]),
        ok([
          ['ETag', '"v1"'],
          ['content-length', '1200'],
        ]),
      ),
    ).toBeNull();
  });

  it('refuses what need not be identical from one fetch to the next', () => {
    expect(whyNotCheckable({ ...get(), method: 'POST' }, ok([['etag', '"v1"']]))).toBe('not a GET');
    expect(whyNotCheckable(get(), ok([['etag', 'W/"v1"']]))).toBe('no strong validator');
    expect(whyNotCheckable(get(), ok([]))).toBe('no strong validator');
    expect(whyNotCheckable(get(), { ...ok([['etag', '"v1"']]), status: 206 })).toBe('not a 200');
    expect(whyNotCheckable(get([['Range', 'bytes=0-9']]), ok([['etag', '"v1"']]))).toBe(
      'conditional, ranged or credentialed',
    );
    expect(whyNotCheckable(get([['if-none-match', '"v0"']]), ok([['etag', '"v1"']]))).toBe(
      'conditional, ranged or credentialed',
    );
    expect(
      whyNotCheckable(
        get(),
        ok([
          ['etag', '"v1"'],
          ['cache-control', 'private, max-age=60'],
        ]),
      ),
    ).toBe('not public');
    expect(
      whyNotCheckable(
        get(),
        ok([
          ['etag', '"v1"'],
          ['cache-control', 'no-store'],
        ]),
      ),
    ).toBe('not public');
    expect(
      whyNotCheckable(
        get(),
        ok([
          ['etag', '"v1"'],
          ['content-length', String(MAX_CHECKED_BYTES + 1)],
        ]),
      ),
    ).toBe('too large');
    expect(whyNotCheckable({ ...get(), url: 'ftp://example.com/x' }, ok([['etag', '"v1"']]))).toBe('not http(s)');
  });

  it('reads a strong ETag only', () => {
    expect(strongEtag([['etag', ' "abc" ']])).toBe('"abc"');
    expect(strongEtag([['etag', 'W/"abc"']])).toBeNull();
    expect(strongEtag([['etag', 'abc']])).toBeNull();
  });
});

describe('judging answers', () => {
  const a = fingerprintOf(200, '"v1"', 'aa');
  const b = fingerprintOf(200, '"v1"', 'bb');
  const c = fingerprintOf(200, '"v1"', 'cc');

  it('asks a second exit, then agrees when both answers match', () => {
    expect(judgeAnswers([{ peerId: 'x', fingerprint: a }])).toEqual({ kind: 'ask-another', exclude: ['x'] });
    expect(
      judgeAnswers([
        { peerId: 'x', fingerprint: a },
        { peerId: 'y', fingerprint: a },
      ]),
    ).toEqual({ kind: 'agree' });
  });

  it('asks a third when two differ, and flags the odd one out', () => {
    expect(
      judgeAnswers([
        { peerId: 'liar', fingerprint: b },
        { peerId: 'y', fingerprint: a },
      ]),
    ).toEqual({ kind: 'ask-another', exclude: ['liar', 'y'] });
    expect(
      judgeAnswers([
        { peerId: 'liar', fingerprint: b },
        { peerId: 'y', fingerprint: a },
        { peerId: 'z', fingerprint: a },
      ]),
    ).toEqual({ kind: 'flag', peerId: 'liar' });
    // The first exit told the truth; the second one asked lied.
    expect(
      judgeAnswers([
        { peerId: 'x', fingerprint: a },
        { peerId: 'liar', fingerprint: b },
        { peerId: 'z', fingerprint: a },
      ]),
    ).toEqual({ kind: 'flag', peerId: 'liar' });
  });

  it('blames no one when three answers all differ (an origin that varies)', () => {
    expect(
      judgeAnswers([
        { peerId: 'x', fingerprint: a },
        { peerId: 'y', fingerprint: b },
        { peerId: 'z', fingerprint: c },
      ]),
    ).toEqual({ kind: 'inconclusive' });
  });

  it('tells answers apart by status, ETag and body', () => {
    expect(fingerprintOf(200, '"v1"', 'aa')).not.toBe(fingerprintOf(200, '"v2"', 'aa'));
    expect(fingerprintOf(200, '"v1"', 'aa')).not.toBe(fingerprintOf(404, '"v1"', 'aa'));
    expect(fingerprintOf(200, null, 'aa')).not.toBe(fingerprintOf(200, '"v1"', 'aa'));
  });
});

describe('drawing answers to check', () => {
  it('draws the set share, none at 0, all at 100', () => {
    expect(drawnForCheck(0, 0)).toBe(false);
    expect(drawnForCheck(100, 0.999)).toBe(true);
    const drawn = Array.from({ length: 1000 }, (_, index) => drawnForCheck(5, index / 1000)).filter(Boolean).length;
    expect(drawn).toBe(50);
  });
});

describe('the flagged exits list', () => {
  it('keeps each exit once, newest first, bounded', () => {
    let list = withFlagged([], { peerId: 'p1', at: 1, url: 'https://a/' });
    list = withFlagged(list, { peerId: 'p2', at: 2, url: 'https://b/' });
    list = withFlagged(list, { peerId: 'p1', at: 3, url: 'https://c/' });
    expect(list.map((entry) => [entry.peerId, entry.at])).toEqual([
      ['p1', 3],
      ['p2', 2],
    ]);
    for (let index = 0; index < 100; index += 1) list = withFlagged(list, { peerId: `q${index}`, at: index, url: '' });
    expect(list).toHaveLength(MAX_FLAGGED_EXITS);
  });

  it('reads a damaged stored list without failing', () => {
    expect(parseFlaggedExits('nope')).toEqual([]);
    expect(
      parseFlaggedExits([
        { peerId: 'p1', at: 5, url: 'https://a/' },
        { peerId: 7 },
        null,
        { peerId: 'p2', at: 'x', url: '' },
      ]),
    ).toEqual([{ peerId: 'p1', at: 5, url: 'https://a/' }]);
  });
});
