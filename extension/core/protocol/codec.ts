import { PeerlaneError } from '../errors';
import {
  errorPayloadSchema,
  FrameType,
  HEADER_BYTES,
  helloSchema,
  MAX_FRAME_BYTES,
  PROTOCOL_VERSION,
  requestHeadSchema,
  responseHeadSchema,
  type Frame,
  type FrameTypeName,
} from './frames';
import type { z } from 'zod';

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder('utf-8', { fatal: true });
const typeNames = new Map<number, FrameTypeName>(
  Object.entries(FrameType).map(([name, code]) => [code, name as FrameTypeName]),
);

function payloadOf(frame: Frame): Uint8Array {
  switch (frame.type) {
    case 'HELLO':
      return textEncoder.encode(JSON.stringify(frame.hello));
    case 'REQUEST_HEAD':
    case 'RESPONSE_HEAD':
      return textEncoder.encode(JSON.stringify(frame.head));
    case 'ERROR':
      return textEncoder.encode(JSON.stringify(frame.error));
    case 'BODY':
      return frame.data;
    case 'CREDIT':
    case 'PING':
    case 'PONG': {
      const bytes = new Uint8Array(4);
      new DataView(bytes.buffer).setUint32(0, frame.type === 'CREDIT' ? frame.bytes : frame.nonce);
      return bytes;
    }
    case 'END':
    case 'CANCEL':
      return new Uint8Array(0);
  }
}

/**
 * A header field of an encoded frame, read without decoding it (the transport's outbox sorts frames
 * by them on every send): callers check `frame.byteLength >= HEADER_BYTES` first.
 */
export const headerType = (frame: Uint8Array): number => frame[1]!;
export const headerFlags = (frame: Uint8Array): number => (frame[2]! << 8) | frame[3]!;
export const headerStream = (frame: Uint8Array): number =>
  ((frame[4]! << 24) | (frame[5]! << 16) | (frame[6]! << 8) | frame[7]!) >>> 0;

/** Encodes one frame; throws `frame_oversize` if it would exceed the frame limit. */
export function encodeFrame(frame: Frame, maxFrameBytes = MAX_FRAME_BYTES): Uint8Array {
  const payload = payloadOf(frame);
  const total = HEADER_BYTES + payload.byteLength;
  if (total > maxFrameBytes) {
    throw new PeerlaneError('frame_oversize', `${frame.type} frame of ${total} bytes exceeds ${maxFrameBytes}`);
  }
  if (!Number.isInteger(frame.streamId) || frame.streamId < 0 || frame.streamId > 0xffffffff) {
    throw new PeerlaneError('frame_malformed', `stream id ${frame.streamId} out of range`);
  }
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint8(0, PROTOCOL_VERSION);
  view.setUint8(1, FrameType[frame.type]);
  view.setUint16(2, frame.flags & 0xffff);
  view.setUint32(4, frame.streamId);
  view.setUint32(8, payload.byteLength);
  out.set(payload, HEADER_BYTES);
  return out;
}

function parseJson<T extends z.ZodType>(schema: T, payload: Uint8Array, type: FrameTypeName): z.infer<T> {
  let value: unknown;
  try {
    value = JSON.parse(textDecoder.decode(payload));
  } catch {
    throw new PeerlaneError('frame_malformed', `${type} payload is not UTF-8 JSON`);
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new PeerlaneError(
      'frame_malformed',
      `${type} payload invalid: ${parsed.error.issues[0]?.message ?? 'schema'}`,
    );
  }
  return parsed.data;
}

function fixedU32(payload: Uint8Array, type: FrameTypeName): number {
  if (payload.byteLength !== 4) throw new PeerlaneError('frame_malformed', `${type} payload must be 4 bytes`);
  return new DataView(payload.buffer, payload.byteOffset, 4).getUint32(0);
}

/**
 * Decodes exactly one frame. Every failure is a PeerlaneError with a `frame_*` category; nothing
 * else escapes, whatever the input (see the fuzz test).
 */
export function decodeFrame(input: Uint8Array, maxFrameBytes = MAX_FRAME_BYTES): Frame {
  if (input.byteLength > maxFrameBytes) {
    throw new PeerlaneError('frame_oversize', `frame of ${input.byteLength} bytes exceeds ${maxFrameBytes}`);
  }
  if (input.byteLength < HEADER_BYTES) {
    throw new PeerlaneError('frame_truncated', `frame of ${input.byteLength} bytes is shorter than its header`);
  }
  const view = new DataView(input.buffer, input.byteOffset, input.byteLength);
  const version = view.getUint8(0);
  if (version !== PROTOCOL_VERSION) {
    throw new PeerlaneError('frame_version', `protocol version ${version} is not ${PROTOCOL_VERSION}`);
  }
  const type = typeNames.get(view.getUint8(1));
  if (type === undefined) throw new PeerlaneError('frame_unknown_type', `unknown frame type ${view.getUint8(1)}`);
  const flags = view.getUint16(2);
  const streamId = view.getUint32(4);
  const length = view.getUint32(8);
  if (HEADER_BYTES + length !== input.byteLength) {
    throw new PeerlaneError(
      HEADER_BYTES + length > input.byteLength ? 'frame_truncated' : 'frame_malformed',
      `header says ${length} payload bytes, frame has ${input.byteLength - HEADER_BYTES}`,
    );
  }
  const payload = input.subarray(HEADER_BYTES);
  const base = { streamId, flags };
  switch (type) {
    case 'HELLO':
      return { ...base, type, hello: parseJson(helloSchema, payload, type) };
    case 'REQUEST_HEAD':
      return { ...base, type, head: parseJson(requestHeadSchema, payload, type) };
    case 'RESPONSE_HEAD':
      return { ...base, type, head: parseJson(responseHeadSchema, payload, type) };
    case 'ERROR':
      return { ...base, type, error: parseJson(errorPayloadSchema, payload, type) };
    case 'BODY':
      return { ...base, type, data: payload };
    case 'CREDIT':
      return { ...base, type, bytes: fixedU32(payload, type) };
    case 'PING':
    case 'PONG':
      return { ...base, type, nonce: fixedU32(payload, type) };
    case 'END':
    case 'CANCEL':
      if (length !== 0) throw new PeerlaneError('frame_malformed', `${type} carries no payload`);
      return { ...base, type };
  }
}
