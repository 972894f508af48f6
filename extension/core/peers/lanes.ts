import { PeerlaneError } from '../errors';

/**
 * One peer's frames striped over several lanes, delivered in the order they were sent. A lane is a
 * peer connection of its own (its own SCTP association, so its own congestion window): over a real
 * path one association is the bottleneck, and under loss each gets roughly the same small share
 * (measured over the emulated 50 ms, 1 % loss path, `npm run bench:wan`: one raw channel 0.28 MB/s,
 * four 1.03 MB/s, eight 1.76–1.93 MB/s). Every message on a striped connection starts with a 32-bit
 * sequence number; the receiver holds early messages until the gap before them fills. Pure: the
 * transport picks lanes and moves bytes.
 */
export const LANE_HEADER_BYTES = 4;
/** Early messages a receiver holds at most, in bytes: beyond every window a session grants (core/peers/session.ts) and then some. */
export const MAX_REORDER_BYTES = 64 * 1024 * 1024;
export const MAX_LANES = 8;

/** Sending side: numbers each message in sending order (from `next`: 0 on a new connection). */
export class LaneStamper {
  constructor(private next = 0) {}

  stamp(frame: Uint8Array): Uint8Array<ArrayBuffer> {
    const out = new Uint8Array(LANE_HEADER_BYTES + frame.byteLength);
    const next = this.next;
    out[0] = next >>> 24;
    out[1] = next >>> 16;
    out[2] = next >>> 8;
    out[3] = next;
    out.set(frame, LANE_HEADER_BYTES);
    this.next = (this.next + 1) >>> 0;
    return out;
  }
}

/** Receiving side: messages from every lane in, frames out in sending order. */
export class LaneReassembler {
  private readonly early = new Map<number, Uint8Array>();
  private earlyBytes = 0;

  constructor(
    private readonly deliver: (frame: Uint8Array) => void,
    private readonly maxEarlyBytes = MAX_REORDER_BYTES,
    /** The first number expected: the stamper's first. */
    private expected = 0,
  ) {}

  /** Bytes held while waiting for a gap to fill. */
  get heldBytes(): number {
    return this.earlyBytes;
  }

  /** Throws `frame_malformed` for a message too short to carry a number, `protocol_error` for a duplicate or a peer too far ahead. */
  receive(message: Uint8Array): void {
    if (message.byteLength < LANE_HEADER_BYTES) throw new PeerlaneError('frame_malformed', `lane message of ${message.byteLength} bytes has no sequence number`);
    const sequence = ((message[0]! << 24) | (message[1]! << 16) | (message[2]! << 8) | message[3]!) >>> 0;
    const frame = message.subarray(LANE_HEADER_BYTES);
    if (sequence !== this.expected) {
      // Modular distance: a number behind the expected one was delivered already.
      const ahead = (sequence - this.expected) >>> 0;
      if (ahead >= 2 ** 31 || this.early.has(sequence)) throw new PeerlaneError('protocol_error', `lane message ${sequence} arrived twice`);
      if (this.earlyBytes + frame.byteLength > this.maxEarlyBytes) throw new PeerlaneError('protocol_error', `lanes more than ${this.maxEarlyBytes} bytes ahead of a gap`);
      this.early.set(sequence, frame);
      this.earlyBytes += frame.byteLength;
      return;
    }
    this.deliver(frame);
    this.expected = (this.expected + 1) >>> 0;
    for (let next = this.early.get(this.expected); next !== undefined; next = this.early.get(this.expected)) {
      this.early.delete(this.expected);
      this.earlyBytes -= next.byteLength;
      this.deliver(next);
      this.expected = (this.expected + 1) >>> 0;
    }
  }
}

/** The lane to send on next: the one with the least queued, or -1 when all are at `highWater`. Read per message: no allocation. */
export function pickLane(lanes: readonly { readonly bufferedAmount: number }[], highWater: number): number {
  let best = -1;
  let least = highWater;
  for (let index = 0; index < lanes.length; index += 1) {
    const queued = lanes[index]!.bufferedAmount;
    if (queued < least) {
      best = index;
      least = queued;
    }
  }
  return best;
}
