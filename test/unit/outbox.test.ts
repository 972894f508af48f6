import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cancelledStream, DrainRate, isControlFrame, Outbox } from '../../extension/core/peers/outbox';
import { FLAG_REQUEST_BODY } from '../../extension/core/protocol/frames';
import { decodeFrame, encodeFrame } from '../../extension/core/protocol/codec';
import type { Frame } from '../../extension/core/protocol/frames';

const body = (streamId: number, index: number): Frame => ({
  type: 'BODY',
  streamId,
  flags: 0,
  data: new Uint8Array([index]),
});
const head = (streamId: number): Frame => ({
  type: 'RESPONSE_HEAD',
  streamId,
  flags: 0,
  head: { status: 200, statusText: 'OK', headers: [] },
});
const describeFrame = (frame: Frame): string =>
  `${frame.type}:${frame.streamId}${frame.type === 'BODY' ? `:${frame.data[0]}` : ''}`;

function drain(outbox: Outbox): string[] {
  const out: string[] = [];
  for (let next = outbox.shift(); next; next = outbox.shift()) out.push(describeFrame(decodeFrame(next)));
  return out;
}

describe('outbox: what waits for a peer data channel', () => {
  it("tells control frames from a stream's own", () => {
    expect(isControlFrame(encodeFrame(head(1)))).toBe(true);
    expect(isControlFrame(encodeFrame(body(1, 0)))).toBe(false);
    expect(isControlFrame(new Uint8Array([1, 2]))).toBe(false); // too short to be a frame: its stream's turn, never first
  });

  it('sends heads, credit and pings ahead of queued body frames, and keeps END behind its body', () => {
    const outbox = new Outbox();
    for (let index = 0; index < 3; index += 1) outbox.push(encodeFrame(body(1, index)));
    outbox.push(encodeFrame({ type: 'END', streamId: 1, flags: 0 }));
    outbox.push(encodeFrame(head(3)));
    outbox.push(encodeFrame({ type: 'CREDIT', streamId: 1, flags: 0, bytes: 1000 }));
    outbox.push(encodeFrame({ type: 'PONG', streamId: 0, flags: 0, nonce: 7 }));
    expect(outbox.length).toBe(7);
    expect(drain(outbox)).toEqual([
      'RESPONSE_HEAD:3',
      'CREDIT:1',
      'PONG:0',
      'BODY:1:0',
      'BODY:1:1',
      'BODY:1:2',
      'END:1',
    ]);
    expect(outbox.length).toBe(0);
  });

  it('lets streams take turns, so a small body is not stuck behind a large one', () => {
    const outbox = new Outbox();
    for (let index = 0; index < 100; index += 1) outbox.push(encodeFrame(body(1, index)));
    outbox.push(encodeFrame(body(3, 0)));
    outbox.push(encodeFrame({ type: 'END', streamId: 3, flags: 0 }));
    const order = drain(outbox);
    expect(order.indexOf('END:3')).toBe(3); // BODY:1:0, BODY:3:0, BODY:1:1, END:3
    expect(order.filter((frame) => frame.startsWith('BODY:1')).map((frame) => Number(frame.split(':')[2]))).toEqual([
      ...Array(100).keys(),
    ]);
  });

  it('drops what is queued of a response the peer cancelled, and nothing of the stream this side asked for under the same number', () => {
    const outbox = new Outbox();
    for (let index = 0; index < 5; index += 1) outbox.push(encodeFrame(body(1, index)));
    outbox.push(encodeFrame({ type: 'END', streamId: 1, flags: 0 }));
    // This side's own request 1 (both peers number their streams from 1): its body must still go.
    outbox.push(encodeFrame({ type: 'BODY', streamId: 1, flags: FLAG_REQUEST_BODY, data: new Uint8Array([9]) }));
    outbox.push(encodeFrame({ type: 'END', streamId: 1, flags: FLAG_REQUEST_BODY }));
    outbox.push(encodeFrame(body(2, 0)));
    const cancel = encodeFrame({ type: 'CANCEL', streamId: 1, flags: 0 });
    expect(cancelledStream(cancel)).toBe(1);
    expect(cancelledStream(encodeFrame(body(1, 0)))).toBeNull();
    expect(outbox.dropServed(1)).toBeGreaterThan(0);
    expect(outbox.dropServed(1)).toBe(0);
    expect(outbox.length).toBe(3);
    expect(drain(outbox)).toEqual(['BODY:1:9', 'BODY:2:0', 'END:1']);
  });

  it('never reorders one stream: heads before their body; bodies, END, ERROR and CANCEL in the order pushed, per side', () => {
    const kinds = [
      'BODY',
      'END',
      'ERROR',
      'REQUEST_BODY',
      'REQUEST_END',
      'CANCEL',
      'CREDIT',
      'PING',
      'RESPONSE_HEAD',
    ] as const;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 1, max: 4 }), fc.constantFrom(...kinds)), { maxLength: 200 }),
        (pushes) => {
          const outbox = new Outbox();
          const pushed: Frame[] = [];
          pushes.forEach(([streamId, kind], index) => {
            const frame: Frame =
              kind === 'BODY'
                ? body(streamId, index & 0xff)
                : kind === 'REQUEST_BODY'
                  ? { type: 'BODY', streamId, flags: FLAG_REQUEST_BODY, data: new Uint8Array([index & 0xff]) }
                  : kind === 'REQUEST_END'
                    ? { type: 'END', streamId, flags: FLAG_REQUEST_BODY }
                    : kind === 'ERROR'
                      ? { type: 'ERROR', streamId, flags: 0, error: { category: 'internal', message: String(index) } }
                      : kind === 'CREDIT'
                        ? { type: 'CREDIT', streamId, flags: 0, bytes: index + 1 }
                        : kind === 'PING'
                          ? { type: 'PING', streamId: 0, flags: 0, nonce: index }
                          : kind === 'RESPONSE_HEAD'
                            ? head(streamId)
                            : { type: kind, streamId, flags: 0 };
            pushed.push(frame);
            outbox.push(encodeFrame(frame));
          });
          const sent: Frame[] = [];
          for (let next = outbox.shift(); next; next = outbox.shift()) sent.push(decodeFrame(next));
          expect(sent).toHaveLength(pushed.length);
          // The stream this side serves (its response) and the one it asked for (request body, CANCEL)
          // each keep their order.
          const served = (frame: Frame) =>
            frame.type === 'BODY' || frame.type === 'END'
              ? (frame.flags & FLAG_REQUEST_BODY) === 0
              : frame.type === 'ERROR';
          const asked = (frame: Frame) =>
            frame.type === 'BODY' || frame.type === 'END'
              ? (frame.flags & FLAG_REQUEST_BODY) !== 0
              : frame.type === 'CANCEL';
          const describeSided = (frame: Frame) => `${describeFrame(frame)}:${frame.flags}`;
          for (const side of [served, asked]) {
            for (const streamId of [1, 2, 3, 4]) {
              const ofStream = (frames: Frame[]) =>
                frames.filter((frame) => frame.streamId === streamId && side(frame)).map(describeSided);
              expect(ofStream(sent)).toEqual(ofStream(pushed));
            }
          }
          // A head pushed before some body frame of its stream is sent before it.
          pushed.forEach((frame, index) => {
            if (frame.type !== 'RESPONSE_HEAD') return;
            if (
              !pushed
                .slice(index + 1)
                .some((next) => next.streamId === frame.streamId && next.type === 'BODY' && served(next))
            )
              return;
            const sentHead = sent.findIndex(
              (next) => next.type === 'RESPONSE_HEAD' && next.streamId === frame.streamId,
            );
            const sentBody = sent.findIndex(
              (next) => next.type === 'BODY' && served(next) && next.streamId === frame.streamId,
            );
            expect(sentHead).toBeLessThan(sentBody);
          });
        },
      ),
    );
  });
});

describe('drain rate: how much the channels may hold', () => {
  const options = { minBytes: 256 * 1024, maxBytes: 4 * 1024 * 1024, horizonMs: 250 };

  it('holds the maximum until measured, then a quarter second of a slow drain, never below the minimum', () => {
    const drain = new DrainRate(options);
    expect(drain.highWater()).toBe(options.maxBytes);
    // A channel holding 2 MB that drains 2,000 bytes per millisecond (2 MB/s) while refilled.
    let sent = 2_000_000;
    drain.sample(0, sent, 2_000_000);
    for (let at = 100; at <= 2_000; at += 100) {
      sent += 200_000;
      drain.sample(at, sent, 2_000_000);
    }
    expect(drain.rate).toBeCloseTo(2_000_000, -3);
    expect(drain.highWater()).toBe(500_000);
    // 0.2 MB/s: a quarter second is 50 KB, below the minimum.
    for (let at = 2_100; at <= 6_000; at += 100) {
      sent += 20_000;
      drain.sample(at, sent, 2_000_000);
    }
    expect(drain.highWater()).toBe(options.minBytes);
  });

  it('does not learn from spans where the sender ran dry (it would starve the channel and shrink further)', () => {
    const drain = new DrainRate(options);
    let sent = 100_000;
    drain.sample(0, sent, 100_000);
    // Nothing more to send: the channel empties, slowly refilled by a trickle.
    for (let at = 100; at <= 2_000; at += 100) {
      drain.dry();
      sent += 1_000;
      drain.sample(at, sent, 1_000);
    }
    expect(drain.rate).toBeNull();
    expect(drain.highWater()).toBe(options.maxBytes);
  });

  it('ignores spans too short to measure and channels that emptied', () => {
    const drain = new DrainRate(options);
    drain.sample(0, 1_000_000, 1_000_000);
    drain.sample(10, 1_000_000, 990_000);
    expect(drain.rate).toBeNull();
    drain.sample(20, 1_000_000, 0);
    drain.sample(200, 1_500_000, 500_000);
    expect(drain.rate).toBeNull();
  });
});
