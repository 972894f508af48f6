import { describe, expect, it } from 'vitest';
import { decoderFor } from '../../extension/core/http/text-decoding';
import { decodeFrame, encodeFrame } from '../../extension/core/protocol/codec';
import { FrameType, HEADER_BYTES, PROTOCOL_VERSION } from '../../extension/core/protocol/frames';
import { ERROR_HEADER, isPeerlaneHeader, PEER_HEADER } from '../../extension/core/protocol/page-headers';
import { SERIALIZED_ORIGIN } from '../../extension/core/protocol/request-fields';

/** A frame's 12-byte header and payload, written by hand (version, type, flags, stream, length). */
function rawFrame(type: number, payload: Uint8Array, length = payload.byteLength, streamId = 1): Uint8Array {
  const out = new Uint8Array(HEADER_BYTES + payload.byteLength);
  const view = new DataView(out.buffer);
  view.setUint8(0, PROTOCOL_VERSION);
  view.setUint8(1, type);
  view.setUint16(2, 0);
  view.setUint32(4, streamId);
  view.setUint32(8, length);
  out.set(payload, HEADER_BYTES);
  return out;
}
const json = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
const failureOf = (run: () => unknown): { category: string; message: string } | null => {
  try {
    run();
    return null;
  } catch (error) {
    const { category, message } = error as { category: string; message: string };
    return { category, message };
  }
};

describe('the frame codec at its edges: each refusal typed and named', () => {
  it('stream ids: 0 and 2^32-1 encode; a negative, fractional or too large id is malformed', () => {
    for (const streamId of [0, 0xffffffff])
      expect(decodeFrame(encodeFrame({ type: 'END', streamId, flags: 0 })).streamId).toBe(streamId);
    expect(
      [-1, 1.5, 0x100000000].map((streamId) => failureOf(() => encodeFrame({ type: 'END', streamId, flags: 0 }))),
    ).toEqual([
      { category: 'frame_malformed', message: 'stream id -1 out of range' },
      { category: 'frame_malformed', message: 'stream id 1.5 out of range' },
      { category: 'frame_malformed', message: 'stream id 4294967296 out of range' },
    ]);
  });

  it('an oversize frame is refused on both sides, with its size and the limit', () => {
    expect(
      failureOf(() => encodeFrame({ type: 'BODY', streamId: 1, flags: 0, data: new Uint8Array(100) }, 64)),
    ).toEqual({
      category: 'frame_oversize',
      message: 'BODY frame of 112 bytes exceeds 64',
    });
    // Exactly at the limit is allowed.
    expect(encodeFrame({ type: 'BODY', streamId: 1, flags: 0, data: new Uint8Array(52) }, 64).byteLength).toBe(64);
    expect(failureOf(() => decodeFrame(new Uint8Array(65), 64))).toEqual({
      category: 'frame_oversize',
      message: 'frame of 65 bytes exceeds 64',
    });
  });

  it('a header that disagrees with the frame: truncated when it promises more, malformed when less', () => {
    const body = new Uint8Array(8);
    expect(failureOf(() => decodeFrame(rawFrame(FrameType.BODY, body, 9)))).toEqual({
      category: 'frame_truncated',
      message: 'header says 9 payload bytes, frame has 8',
    });
    expect(failureOf(() => decodeFrame(rawFrame(FrameType.BODY, body, 7)))).toEqual({
      category: 'frame_malformed',
      message: 'header says 7 payload bytes, frame has 8',
    });
    expect(failureOf(() => decodeFrame(new Uint8Array(HEADER_BYTES - 1)))).toEqual({
      category: 'frame_truncated',
      message: `frame of ${HEADER_BYTES - 1} bytes is shorter than its header`,
    });
  });

  it('payloads: JSON that is not UTF-8 or not JSON, a schema miss, fixed sizes, and END/CANCEL carry nothing', () => {
    expect(failureOf(() => decodeFrame(rawFrame(FrameType.HELLO, new Uint8Array([0xff, 0xfe]))))).toEqual({
      category: 'frame_malformed',
      message: 'HELLO payload is not UTF-8 JSON',
    });
    expect(failureOf(() => decodeFrame(rawFrame(FrameType.ERROR, json({ category: 'no_such' }))))).toMatchObject({
      category: 'frame_malformed',
      message: expect.stringMatching(/^ERROR payload invalid: ./),
    });
    expect(failureOf(() => decodeFrame(rawFrame(FrameType.CREDIT, new Uint8Array(3))))).toEqual({
      category: 'frame_malformed',
      message: 'CREDIT payload must be 4 bytes',
    });
    expect(failureOf(() => decodeFrame(rawFrame(FrameType.CANCEL, new Uint8Array(1))))).toEqual({
      category: 'frame_malformed',
      message: 'CANCEL carries no payload',
    });
    const credit = new Uint8Array([0, 1, 0, 0]);
    expect(decodeFrame(rawFrame(FrameType.CREDIT, credit))).toMatchObject({ type: 'CREDIT', bytes: 65536 });
  });
});

describe('small protocol fields', () => {
  it("Peerlane's own response headers are known in any case, and nothing else is", () => {
    expect([PEER_HEADER, ERROR_HEADER, 'X-Peerlane-Peer', 'X-PEERLANE-ERROR'].map(isPeerlaneHeader)).toEqual([
      true,
      true,
      true,
      true,
    ]);
    expect(['x-peerlane', 'x-peerlane-peers', 'content-type', ''].map(isPeerlaneHeader)).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });

  it('a serialised origin is null or scheme://host[:port], nothing more', () => {
    const accepted = ['null', 'https://example.com', 'http://a.example:8080', 'https://[::1]:443'];
    const refused = [
      'nullx',
      'xnull',
      'ftp://example.com',
      'https://example.com/',
      'https://example.com/path',
      'https://',
      'https://exa mple.com',
      'https://example.com?x',
      'https://example.com#x',
      ' https://example.com',
    ];
    expect(accepted.filter((origin) => !SERIALIZED_ORIGIN.test(origin))).toEqual([]);
    expect(refused.filter((origin) => SERIALIZED_ORIGIN.test(origin))).toEqual([]);
  });

  it('a body is decoded in the charset its Content-Type names, or UTF-8 when it names none or one unknown', () => {
    expect(decoderFor('text/html; charset=ISO-8859-1').encoding).toBe('windows-1252');
    expect(decoderFor('text/plain; charset="shift_jis"').encoding).toBe('shift_jis');
    expect(decoderFor("text/plain;CHARSET='euc-kr'").encoding).toBe('euc-kr');
    expect(decoderFor('text/plain; charset=no-such-charset').encoding).toBe('utf-8');
    expect(decoderFor('text/plain').encoding).toBe('utf-8');
    expect(decoderFor(null).encoding).toBe('utf-8');
  });
});
