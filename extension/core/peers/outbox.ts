import { headerFlags, headerStream, headerType } from '../protocol/codec';
import { FLAG_REQUEST_BODY, FrameType, HEADER_BYTES } from '../protocol/frames';

/**
 * What waits to go onto one peer's data channels, and how much the channels themselves may hold.
 * Pure: the transport (transport/peer-mesh.ts) pushes encoded frames and pumps them out.
 *
 * Why: a data channel is one FIFO. Over a slow path (RTT 50 ms, 1 % loss: about 0.26 MB/s on one
 * lane) four megabytes queued in the channel are sixteen seconds, and everything behind them waited
 * that long: new responses' heads (past the requester's attempt timeout, so they were retried), the
 * credit that lets streams go on, the PONGs that measure the round trip. Eight concurrent GETs moved
 * 0.10 MB/s where one alone moved 0.26 (`npm run bench:wan`). So:
 * - frames that are not part of any stream's byte sequence, or open one, go first: HELLO, request
 *   and response heads, CREDIT, PING, PONG. A head goes before its own body, which is still queued
 *   behind it in its stream; END, ERROR and CANCEL stay in their stream's order.
 * - body frames take turns by stream, so a small response is not stuck behind a large one.
 * - the channels hold about a quarter second of what they drain (`DrainRate`), not a fixed 4 MiB.
 * - when the peer cancels a stream this side serves, what is still queued of its response is
 *   dropped (`dropServed`): a cancelled 20 MB GET no longer holds the path for its whole window.
 */
const CONTROL_TYPES: ReadonlySet<number> = new Set([
  FrameType.HELLO,
  FrameType.REQUEST_HEAD,
  FrameType.RESPONSE_HEAD,
  FrameType.CREDIT,
  FrameType.PING,
  FrameType.PONG,
]);

export function isControlFrame(frame: Uint8Array): boolean {
  return frame.byteLength >= HEADER_BYTES && CONTROL_TYPES.has(headerType(frame));
}

/**
 * Both peers number their own streams from 1, so a number names two streams: the one this side asked
 * for (its REQUEST_HEAD, request body, CANCEL) and the one it serves (the response). Queues are kept
 * apart by that.
 */
function queueKey(frame: Uint8Array): number {
  if (frame.byteLength < HEADER_BYTES) return 0;
  const type = headerType(frame);
  const asked =
    type === FrameType.REQUEST_HEAD ||
    type === FrameType.CANCEL ||
    ((type === FrameType.BODY || type === FrameType.END) && (headerFlags(frame) & FLAG_REQUEST_BODY) !== 0);
  return headerStream(frame) * 2 + (asked ? 1 : 0);
}

/** An incoming CANCEL: the peer gave up the stream this side serves under that number. */
export function cancelledStream(frame: Uint8Array): number | null {
  return frame.byteLength >= HEADER_BYTES && headerType(frame) === FrameType.CANCEL ? headerStream(frame) : null;
}

export class Outbox {
  private readonly control: Uint8Array[] = [];
  private readonly streams = new Map<number, Uint8Array[]>();
  /** Streams with frames waiting, in the order they take their turns. */
  private readonly turns: number[] = [];
  private waiting = 0;

  get length(): number {
    return this.waiting;
  }

  push(frame: Uint8Array): void {
    this.waiting += 1;
    if (isControlFrame(frame)) {
      this.control.push(frame);
      return;
    }
    const id = queueKey(frame);
    const queue = this.streams.get(id);
    if (queue) {
      queue.push(frame);
      return;
    }
    this.streams.set(id, [frame]);
    this.turns.push(id);
  }

  /** Drops what is queued of the response this side serves as stream `streamId` (the peer cancelled it); returns the bytes dropped. */
  dropServed(streamId: number): number {
    const key = streamId * 2;
    const queue = this.streams.get(key);
    if (!queue) return 0;
    this.streams.delete(key);
    this.turns.splice(this.turns.indexOf(key), 1);
    this.waiting -= queue.length;
    return queue.reduce((bytes, frame) => bytes + frame.byteLength, 0);
  }

  /** The next frame to send: control first, then one body frame of the stream whose turn it is. */
  shift(): Uint8Array | undefined {
    const control = this.control.shift();
    if (control) {
      this.waiting -= 1;
      return control;
    }
    const id = this.turns.shift();
    if (id === undefined) return undefined;
    const queue = this.streams.get(id)!;
    const frame = queue.shift()!;
    if (queue.length > 0) this.turns.push(id);
    else this.streams.delete(id);
    this.waiting -= 1;
    return frame;
  }
}

export interface DrainRateOptions {
  /** Bounds on what the channels may hold, in bytes. */
  minBytes: number;
  maxBytes: number;
  /** What the channels hold: this long of their measured drain rate. */
  horizonMs: number;
}

export const DEFAULT_DRAIN_RATE: DrainRateOptions = { minBytes: 256 * 1024, maxBytes: 4 * 1024 * 1024, horizonMs: 250 };
/** Samples shorter than this are noise (one event-loop turn), so they are added to the next. */
const MIN_SAMPLE_MS = 50;

/**
 * The rate the channels drain at, measured only across spans in which they never ran dry (a channel
 * that waited for data says nothing about how fast it could go: counting it would shrink the limit,
 * which would starve the channel, which would shrink the limit). Until a first measure, the maximum.
 */
export class DrainRate {
  private bytesPerMs: number | null = null;
  /** The start of the span being measured; null after the sender ran dry (that span does not count). */
  private since: { at: number; sent: number; buffered: number } | null = null;

  constructor(private readonly options: DrainRateOptions = DEFAULT_DRAIN_RATE) {}

  /** After a pump: bytes ever handed to the channels, and what they still hold. */
  sample(now: number, sentTotal: number, buffered: number): void {
    if (buffered === 0 || !this.since) {
      this.since = buffered === 0 ? null : { at: now, sent: sentTotal, buffered };
      return;
    }
    const elapsed = now - this.since.at;
    if (elapsed < MIN_SAMPLE_MS) return;
    const drained = this.since.buffered + (sentTotal - this.since.sent) - buffered;
    const rate = Math.max(0, drained) / elapsed;
    this.bytesPerMs = this.bytesPerMs === null ? rate : 0.75 * this.bytesPerMs + 0.25 * rate;
    this.since = { at: now, sent: sentTotal, buffered };
  }

  /** The sender had nothing more to give: the span since the last sample does not count. */
  dry(): void {
    this.since = null;
  }

  /** Bytes the channels may hold now. */
  highWater(): number {
    if (this.bytesPerMs === null) return this.options.maxBytes;
    return Math.min(
      this.options.maxBytes,
      Math.max(this.options.minBytes, Math.round(this.bytesPerMs * this.options.horizonMs)),
    );
  }

  /** Bytes per second, or null before a first measure. */
  get rate(): number | null {
    return this.bytesPerMs === null ? null : this.bytesPerMs * 1000;
  }
}
