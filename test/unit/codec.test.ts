import { describe, expect, it } from 'vitest';
import { PeerlaneError } from '../../extension/core/errors';
import { decodeFrame, encodeFrame } from '../../extension/core/protocol/codec';
import {
  FrameType,
  HEADER_BYTES,
  MAX_FRAME_BYTES,
  MAX_PAYLOAD_BYTES,
  type Frame,
} from '../../extension/core/protocol/frames';

const samples: Frame[] = [
  {
    type: 'HELLO',
    streamId: 0,
    flags: 0,
    hello: { version: 1, role: 'exit', capabilities: ['credit'], exitCapacity: 6 },
  },
  {
    type: 'REQUEST_HEAD',
    streamId: 7,
    flags: 1,
    head: { method: 'GET', url: 'https://example.com/a?b=c', headers: [['accept', '*/*']] },
  },
  { type: 'BODY', streamId: 7, flags: 0, data: new Uint8Array([1, 2, 3, 255]) },
  { type: 'END', streamId: 7, flags: 0 },
  { type: 'RESPONSE_HEAD', streamId: 4294967295, flags: 0, head: { status: 200, statusText: 'OK', headers: [] } },
  { type: 'CANCEL', streamId: 3, flags: 0 },
  { type: 'ERROR', streamId: 3, flags: 0, error: { category: 'destination_refused', message: 'no' } },
  { type: 'CREDIT', streamId: 3, flags: 0, bytes: 131072 },
  { type: 'PING', streamId: 0, flags: 0, nonce: 42 },
  { type: 'PONG', streamId: 0, flags: 0, nonce: 42 },
];

function categoryOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    if (error instanceof PeerlaneError) return error.category;
    return `untyped: ${String(error)}`;
  }
  return 'no error';
}

describe('frame codec', () => {
  it.each(samples.map((frame) => [frame.type, frame] as const))('round-trips %s', (_name, frame) => {
    expect(decodeFrame(encodeFrame(frame))).toEqual(frame);
  });

  it('multiplexes streams: interleaved frames keep their stream ids', () => {
    const frames = [1, 2, 3, 1, 2].map((streamId, index) => ({
      type: 'BODY' as const,
      streamId,
      flags: 0,
      data: new Uint8Array([index]),
    }));
    const decoded = frames.map((frame) => decodeFrame(encodeFrame(frame)));
    expect(decoded.map((frame) => frame.streamId)).toEqual([1, 2, 3, 1, 2]);
  });

  it('accepts a full 16 KiB body frame and refuses one byte more', () => {
    const full = encodeFrame({ type: 'BODY', streamId: 1, flags: 0, data: new Uint8Array(MAX_PAYLOAD_BYTES) });
    expect(full.byteLength).toBe(MAX_FRAME_BYTES);
    expect(
      categoryOf(() =>
        encodeFrame({ type: 'BODY', streamId: 1, flags: 0, data: new Uint8Array(MAX_PAYLOAD_BYTES + 1) }),
      ),
    ).toBe('frame_oversize');
    expect(categoryOf(() => decodeFrame(new Uint8Array(MAX_FRAME_BYTES + 1)))).toBe('frame_oversize');
  });

  it('rejects truncated, wrong-version, unknown-type and malformed frames with typed errors', () => {
    const good = encodeFrame(samples[1]!);
    expect(categoryOf(() => decodeFrame(good.subarray(0, 5)))).toBe('frame_truncated');
    expect(categoryOf(() => decodeFrame(good.subarray(0, good.length - 1)))).toBe('frame_truncated');
    const badVersion = good.slice();
    badVersion[0] = 9;
    expect(categoryOf(() => decodeFrame(badVersion))).toBe('frame_version');
    const badType = good.slice();
    badType[1] = 200;
    expect(categoryOf(() => decodeFrame(badType))).toBe('frame_unknown_type');
    const extra = new Uint8Array(good.length + 3);
    extra.set(good);
    expect(categoryOf(() => decodeFrame(extra))).toBe('frame_malformed');
    const notJson = encodeFrame({ type: 'BODY', streamId: 1, flags: 0, data: new TextEncoder().encode('{oops') });
    notJson[1] = FrameType.REQUEST_HEAD;
    expect(categoryOf(() => decodeFrame(notJson))).toBe('frame_malformed');
    const wrongShape = encodeFrame({
      type: 'BODY',
      streamId: 1,
      flags: 0,
      data: new TextEncoder().encode('{"method":5}'),
    });
    wrongShape[1] = FrameType.RESPONSE_HEAD;
    expect(categoryOf(() => decodeFrame(wrongShape))).toBe('frame_malformed');
    const endWithPayload = encodeFrame({ type: 'BODY', streamId: 1, flags: 0, data: new Uint8Array(2) });
    endWithPayload[1] = FrameType.END;
    expect(categoryOf(() => decodeFrame(endWithPayload))).toBe('frame_malformed');
  });

  it('survives 20,000 random and mutated inputs with only typed errors', () => {
    let seed = 12345;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 20_000; i += 1) {
      let input: Uint8Array;
      if (i % 2 === 0) {
        input = new Uint8Array(Math.floor(random() * 64));
        for (let j = 0; j < input.length; j += 1) input[j] = Math.floor(random() * 256);
        if (input.length > 1 && random() < 0.5) input[0] = 1; // reach past the version check
      } else {
        input = encodeFrame(samples[i % samples.length]!).slice();
        const flips = 1 + Math.floor(random() * 3);
        for (let f = 0; f < flips; f += 1) input[Math.floor(random() * input.length)] = Math.floor(random() * 256);
      }
      const outcome = categoryOf(() => decodeFrame(input));
      expect(outcome.startsWith('untyped')).toBe(false);
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    // The corpus reaches every rejection path, not just the first check.
    for (const category of ['frame_truncated', 'frame_version', 'frame_unknown_type', 'frame_malformed']) {
      expect(outcomes.get(category) ?? 0).toBeGreaterThan(0);
    }
  });

  it('has a fixed 12-byte header', () => {
    expect(encodeFrame({ type: 'END', streamId: 1, flags: 0 }).byteLength).toBe(HEADER_BYTES);
  });
});
