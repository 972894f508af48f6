import { PeerlaneError } from '../errors';
import { headerStream, headerType } from '../protocol/codec';
import { FrameType, HEADER_BYTES } from '../protocol/frames';

/**
 * One peer's frames striped over several lanes, delivered in the order they were sent. A lane is a
 * peer connection of its own (its own SCTP association, so its own congestion window): over a real
 * path one association is the bottleneck, and under loss each gets roughly the same small share
 * (measured over the emulated 50 ms, 1 % loss path, `npm run bench:wan`: one raw channel 0.28 MB/s,
 * four 1.03 MB/s, eight 1.76–1.93 MB/s). Every message on a striped connection starts with a 32-bit
 * word: a 31-bit sequence number, or with the top bit set a lane control message.
 *
 * Striping has a price: one lane whose association stalls (SCTP's retransmission timer backs off
 * under loss, a second and more) holds every later message of every lane in reassembly, and the
 * whole peer waits for it. So the receiver says what it has (ACK, every few messages) and, when a
 * gap has waited longer than a retransmission on a working lane would take, names the missing
 * messages (RESEND); the sender keeps each message until it is acknowledged and sends the named
 * ones again on another lane. A duplicate (the stalled lane delivering after all) is dropped.
 * Both ends must say they do this (the transport's signals carry it); without, messages are only
 * numbered and reordered. Pure: the transport picks lanes, moves bytes and keeps the time.
 *
 * Order by stream (both ends' signals say `laneOrder`): a gap holds back only the stream it belongs
 * to. Each message carries a second word naming the message it must follow: the previous one of its
 * stream (frames of one stream number, whichever side opened it), or the latest barrier, or itself
 * when nothing. A HELLO is a barrier (top bit of the second word): it is delivered once every
 * message before it has arrived, and every stream's next message follows it. So a new response's
 * head, a CREDIT or a PONG no longer waits behind another stream's lost packet on another lane
 * (`npm run bench:page` measures the small requests that run beside two downloads). Without it,
 * each message follows the one numbered before it: one order for all.
 */
export const LANE_HEADER_BYTES = 4;
/** The header of a message ordered by stream: its number, then what it follows. */
export const ORDERED_LANE_HEADER_BYTES = 8;
const BARRIER_BIT = 0x8000_0000;
/** Streams a sender remembers the last message of (acknowledged ones are forgotten); past it, the next message is a barrier. */
const MAX_ORDER_STREAMS = 4096;
/** How far past the first missing message a peer may number: bounds what the receiver keeps of what arrived. */
const MAX_AHEAD_MESSAGES = 1 << 20;
/** Early messages a receiver holds at most, in bytes: beyond every window a session grants (core/peers/session.ts) and then some. */
export const MAX_REORDER_BYTES = 64 * 1024 * 1024;
/** What a sender keeps for resending at most; past it, a message is sent without a copy (a gap behind it can only wait). */
export const MAX_RETAINED_BYTES = 64 * 1024 * 1024;
export const MAX_LANES = 8;
/**
 * With lanes chosen automatically, a path whose round trip is at least this gets every lane the
 * settings allow, a nearer one only the first: on a LAN or loopback one association is not what
 * limits (there one raw channel is bound by the browsers' CPU, and more connections only add to it),
 * while at 50 ms one lane moved 0.22–0.29 MB/s with 1 % loss and eight 1.8–2.0, and without loss
 * eight 2.5–3.8 against one's 1.7–3.3 (`npm run bench:wan`, 2026-12-02).
 */
export const AUTO_LANES_MIN_RTT_MS = 10;

/** Lanes for a connection whose first lane measured `roundTripMs` (null: not known, so one). */
export function automaticLaneCount(roundTripMs: number | null, allowed: number): number {
  return roundTripMs !== null && roundTripMs >= AUTO_LANES_MIN_RTT_MS ? allowed : 1;
}

/** The receiver acknowledges after this many messages delivered (and whenever a gap fills). */
export const ACK_EVERY_MESSAGES = 32;
/** Message numbers one RESEND names at most; a longer gap is asked for again as it shortens. */
export const MAX_RESEND_NUMBERS = 256;
/** How far past the gap a receiver looks for what is missing (bounds the scan of a RESEND). */
const MAX_RESEND_SCAN = 4096;

const CONTROL_BIT = 0x8000_0000;
const SEQUENCE_MASK = 0x7fff_ffff;
/** Numbers are compared in the 31-bit circle: more than half of it ahead means behind. */
const HALF_CIRCLE = 2 ** 30;
const CONTROL_ACK = 1;
const CONTROL_RESEND = 2;

/** How far `to` comes after `from` in the 31-bit circle (≥ HALF_CIRCLE: it comes before). */
function ahead(from: number, to: number): number {
  return (to - from) & SEQUENCE_MASK;
}

function readWord(bytes: Uint8Array, at: number): number {
  return ((bytes[at]! << 24) | (bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!) >>> 0;
}

function writeWord(bytes: Uint8Array, at: number, word: number): void {
  bytes[at] = word >>> 24;
  bytes[at + 1] = word >>> 16;
  bytes[at + 2] = word >>> 8;
  bytes[at + 3] = word;
}

/** A lane control message (receiver to sender), not a numbered frame. */
export function isLaneControl(message: Uint8Array): boolean {
  return message.byteLength >= LANE_HEADER_BYTES && (message[0]! & 0x80) !== 0;
}

function controlMessage(kind: number, words: readonly number[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(LANE_HEADER_BYTES * (1 + words.length));
  writeWord(out, 0, (CONTROL_BIT | kind) >>> 0);
  words.forEach((word, index) => writeWord(out, LANE_HEADER_BYTES * (index + 1), word));
  return out;
}

/** A message to send again, the lane it went on the first time (to avoid), and how many bytes that lane had been given once it was. */
export interface LaneResend {
  message: Uint8Array<ArrayBuffer>;
  lane: number;
  /** The lane's bytes sent through this message: while the lane's own buffer still holds past it, the message never left. */
  laneBytesThrough: number;
  /** How many times the receiver asked for it (1 the first time). */
  asks: number;
}

/** Sending side: numbers each message in sending order (from `next`: 0 on a new connection) and keeps it until acknowledged. */
export class LaneSender {
  /** Sequence → the message as sent and its lane; in sending order (a Map keeps insertion order). */
  private readonly kept = new Map<number, LaneResend>();
  private keptBytes = 0;
  /** Keep copies for resending: only once the receiver said it acknowledges (else nothing would free them). */
  retain = false;
  /** Order by stream: each message names the one it follows (set before the first message, by both ends' signals). */
  private byStream = false;
  /** Each stream's latest message number, while the receiver may not have it yet. */
  private readonly lastOfStream = new Map<number, number>();
  private lastBarrier: number | null = null;

  constructor(
    private next = 0,
    private readonly maxRetainedBytes = MAX_RETAINED_BYTES,
  ) {}

  get retainedBytes(): number {
    return this.keptBytes;
  }

  orderByStream(): void {
    this.byStream = true;
  }

  /** `laneBytesBefore`: what the lane was given before this message (the host counts it). */
  stamp(frame: Uint8Array, lane: number, laneBytesBefore = 0): Uint8Array<ArrayBuffer> {
    const header = this.byStream ? ORDERED_LANE_HEADER_BYTES : LANE_HEADER_BYTES;
    const out = new Uint8Array(header + frame.byteLength);
    const sequence = this.next;
    writeWord(out, 0, sequence);
    if (this.byStream) writeWord(out, LANE_HEADER_BYTES, this.follows(frame, sequence));
    out.set(frame, header);
    this.next = (sequence + 1) & SEQUENCE_MASK;
    if (this.retain && this.keptBytes + out.byteLength <= this.maxRetainedBytes) {
      this.kept.set(sequence, { message: out, lane, laneBytesThrough: laneBytesBefore + out.byteLength, asks: 0 });
      this.keptBytes += out.byteLength;
    }
    return out;
  }

  /** The second word of an ordered message: the barrier bit, or the number it follows (its own: none). */
  private follows(frame: Uint8Array, sequence: number): number {
    const stream = frame.byteLength >= HEADER_BYTES ? headerStream(frame) : 0;
    const hello = frame.byteLength >= HEADER_BYTES && headerType(frame) === FrameType.HELLO;
    if (hello || (this.lastOfStream.size >= MAX_ORDER_STREAMS && !this.lastOfStream.has(stream))) {
      this.lastOfStream.clear();
      this.lastBarrier = sequence;
      return BARRIER_BIT;
    }
    const previous = this.lastOfStream.get(stream) ?? this.lastBarrier ?? sequence;
    this.lastOfStream.set(stream, sequence);
    return previous;
  }

  /** The receiver has every message before `next`, so has delivered them: following one of them is following nothing. */
  private forgetDelivered(next: number): void {
    const before = (sequence: number): boolean => {
      const distance = ahead(sequence, next);
      return distance !== 0 && distance < HALF_CIRCLE;
    };
    for (const [stream, sequence] of this.lastOfStream) if (before(sequence)) this.lastOfStream.delete(stream);
    if (this.lastBarrier !== null && before(this.lastBarrier)) this.lastBarrier = null;
  }

  /**
   * A control message from the receiver: an ACK frees what it has; a RESEND returns the named
   * messages still kept, to send again. Throws `frame_malformed` for a control message it cannot read.
   */
  control(message: Uint8Array): LaneResend[] {
    if (message.byteLength % LANE_HEADER_BYTES !== 0 || message.byteLength < 2 * LANE_HEADER_BYTES) {
      throw new PeerlaneError('frame_malformed', `lane control message of ${message.byteLength} bytes`);
    }
    const kind = readWord(message, 0) & SEQUENCE_MASK;
    if (kind === CONTROL_ACK) {
      const next = readWord(message, LANE_HEADER_BYTES) & SEQUENCE_MASK;
      this.forgetDelivered(next);
      for (const [sequence, kept] of this.kept) {
        // Kept in sending order: stop at the first the receiver does not have yet.
        if (ahead(sequence, next) === 0 || ahead(sequence, next) >= HALF_CIRCLE) break;
        this.kept.delete(sequence);
        this.keptBytes -= kept.message.byteLength;
      }
      return [];
    }
    if (kind === CONTROL_RESEND) {
      const resends: LaneResend[] = [];
      for (
        let at = LANE_HEADER_BYTES;
        at < message.byteLength && resends.length < MAX_RESEND_NUMBERS;
        at += LANE_HEADER_BYTES
      ) {
        const kept = this.kept.get(readWord(message, at) & SEQUENCE_MASK);
        if (!kept) continue;
        kept.asks += 1;
        resends.push(kept);
      }
      return resends;
    }
    throw new PeerlaneError('frame_malformed', `lane control message of unknown kind ${kind}`);
  }
}

export interface LaneReceiverOptions {
  /** Bound on early bytes held (default MAX_REORDER_BYTES). */
  maxEarlyBytes?: number;
  /** The first number expected: the sender's first. */
  expected?: number;
}

/** A message held until the one it follows is delivered. */
interface HeldMessage {
  sequence: number;
  frame: Uint8Array;
}

/**
 * Receiving side: messages from every lane in, frames out in sending order: each stream's in its
 * order when ordered by stream, else all in one order.
 */
export class LaneReceiver {
  /** The first number not arrived: every message before it has arrived, and so has been delivered. */
  private expected: number;
  /** Numbers past `expected` that arrived, delivered or held. */
  private readonly arrived = new Set<number>();
  /** Numbers past `expected` already delivered (nothing of their stream was missing before them). */
  private readonly deliveredAhead = new Set<number>();
  /** Held messages, by the number of the message each follows. */
  private readonly waitingOn = new Map<number, HeldMessage[]>();
  /** Held barriers, by their number: each waits until every message before it has arrived. */
  private readonly barriers = new Map<number, Uint8Array>();
  private held = 0;
  private readonly maxEarlyBytes: number;
  private byStream = false;
  /** The furthest number arrived (meaningful while `arrived` is not empty). */
  private furthest = 0;
  private deliveredSinceAck = 0;
  /** When the current gap began, and when it was last asked for (null: no gap). */
  private gapSince: number | null = null;
  private askedAt = -Infinity;
  /** Acknowledge, ask for what a gap lacks and drop duplicates: the sender said it keeps copies. */
  recovering = false;
  /** Duplicates dropped (messages sent again that had arrived after all). */
  duplicates = 0;

  constructor(
    private readonly deliver: (frame: Uint8Array) => void,
    options: LaneReceiverOptions = {},
  ) {
    this.maxEarlyBytes = options.maxEarlyBytes ?? MAX_REORDER_BYTES;
    this.expected = options.expected ?? 0;
  }

  orderByStream(): void {
    this.byStream = true;
  }

  /** Bytes held while what they follow is missing. */
  get heldBytes(): number {
    return this.held;
  }

  /** When the gap being waited on began (null: none): the host arms its timer for `resendRequest` by it. */
  get waitingSince(): number | null {
    return this.gapSince;
  }

  /**
   * One numbered message, received at `now`. Returns an ACK to send back when one is due (only
   * while `recovering`), else null. Throws `frame_malformed` for a message too short for its header,
   * `protocol_error` for a peer too far ahead, or for a duplicate when not recovering.
   */
  receive(message: Uint8Array, now: number): Uint8Array<ArrayBuffer> | null {
    const header = this.byStream ? ORDERED_LANE_HEADER_BYTES : LANE_HEADER_BYTES;
    if (message.byteLength < header)
      throw new PeerlaneError('frame_malformed', `lane message of ${message.byteLength} bytes has no full header`);
    const sequence = readWord(message, 0) & SEQUENCE_MASK;
    const frame = message.subarray(header);
    const distance = ahead(this.expected, sequence);
    if (distance >= HALF_CIRCLE || this.arrived.has(sequence)) {
      if (!this.recovering) throw new PeerlaneError('protocol_error', `lane message ${sequence} arrived twice`);
      this.duplicates += 1;
      return null;
    }
    if (distance > MAX_AHEAD_MESSAGES)
      throw new PeerlaneError('protocol_error', `lane message ${sequence} is ${distance} ahead of a gap`);
    const word = this.byStream ? readWord(message, LANE_HEADER_BYTES) : (sequence - 1) & SEQUENCE_MASK;
    const barrier = (word & BARRIER_BIT) !== 0;
    const follows = word & SEQUENCE_MASK;
    if (barrier ? distance === 0 : follows === sequence || this.delivered(follows)) {
      this.deliverFrom(sequence, frame);
    } else {
      if (this.held + frame.byteLength > this.maxEarlyBytes)
        throw new PeerlaneError('protocol_error', `lanes more than ${this.maxEarlyBytes} bytes ahead of a gap`);
      this.held += frame.byteLength;
      if (barrier) this.barriers.set(sequence, frame);
      else {
        const waiting = this.waitingOn.get(follows);
        if (waiting) waiting.push({ sequence, frame });
        else this.waitingOn.set(follows, [{ sequence, frame }]);
      }
    }
    if (distance !== 0) {
      if (this.arrived.size === 0 || distance > ahead(this.expected, this.furthest)) this.furthest = sequence;
      this.arrived.add(sequence);
      this.gapSince ??= now;
      return null;
    }
    return this.advance(now);
  }

  /** Whether the message numbered `sequence` was delivered. */
  private delivered(sequence: number): boolean {
    const distance = ahead(this.expected, sequence);
    return distance >= HALF_CIRCLE || this.deliveredAhead.has(sequence);
  }

  /** Delivers a message and, in turn, every held one that was waiting on it (no recursion: a chain may be long). */
  private deliverFrom(sequence: number, frame: Uint8Array): void {
    const stack: HeldMessage[] = [{ sequence, frame }];
    for (let next = stack.pop(); next; next = stack.pop()) {
      this.deliver(next.frame);
      if (next.sequence !== this.expected) this.deliveredAhead.add(next.sequence);
      const waiting = this.waitingOn.get(next.sequence);
      if (!waiting) continue;
      this.waitingOn.delete(next.sequence);
      for (const held of waiting) {
        this.held -= held.frame.byteLength;
        stack.push(held);
      }
    }
  }

  /** The message at `expected` arrived: move past it and past every one after it that arrived too. */
  private advance(now: number): Uint8Array<ArrayBuffer> | null {
    const hadGap = this.arrived.size > 0;
    this.expected = (this.expected + 1) & SEQUENCE_MASK;
    let passed = 1;
    while (this.arrived.has(this.expected)) {
      const at = this.expected;
      // Everything before a held barrier has arrived now, so it goes (and whatever waited on it).
      const barrier = this.barriers.get(at);
      if (barrier) {
        this.barriers.delete(at);
        this.held -= barrier.byteLength;
        this.deliverFrom(at, barrier);
      }
      this.arrived.delete(at);
      this.deliveredAhead.delete(at);
      this.expected = (at + 1) & SEQUENCE_MASK;
      passed += 1;
    }
    // A gap at a new place is a new wait: it began now, and was not asked for yet.
    this.gapSince = this.arrived.size > 0 ? now : null;
    if (hadGap) this.askedAt = -Infinity;
    this.deliveredSinceAck += passed;
    if (!this.recovering || (this.deliveredSinceAck < ACK_EVERY_MESSAGES && !(hadGap && this.arrived.size === 0)))
      return null;
    this.deliveredSinceAck = 0;
    return controlMessage(CONTROL_ACK, [this.expected]);
  }

  /**
   * A RESEND naming what the gap lacks (the numbers between it and the furthest message arrived that
   * have not come), when it has waited `stallMs` since it began and since it was last asked for;
   * else null.
   */
  resendRequest(now: number, stallMs: number): Uint8Array<ArrayBuffer> | null {
    if (!this.recovering || this.gapSince === null || now - Math.max(this.gapSince, this.askedAt) < stallMs)
      return null;
    const missing: number[] = [];
    const span = Math.min(ahead(this.expected, this.furthest), MAX_RESEND_SCAN);
    for (let offset = 0; offset < span && missing.length < MAX_RESEND_NUMBERS; offset += 1) {
      const sequence = (this.expected + offset) & SEQUENCE_MASK;
      if (!this.arrived.has(sequence)) missing.push(sequence);
    }
    this.askedAt = now;
    return controlMessage(CONTROL_RESEND, missing);
  }
}

/**
 * The lane to send on next: the one with the least queued, or -1 when all are at `highWater`. A
 * lane `avoid`ed (its messages had to be sent again: its association is stalled) is taken only when
 * every lane is avoided (`avoid`, or else each lane's own `resting`). Ties go to the first from `from` on: the host passes a turn that moves with
 * every message, so light traffic (credit, pings, where every lane has nothing queued) is spread over
 * all lanes instead of all going to the first, where a stalled first lane would swallow every one of
 * them and show the peer no gap to ask for. Read per message: no allocation.
 */
export function pickLane(
  lanes: readonly { readonly bufferedAmount: number; readonly resting?: boolean }[],
  highWater: number,
  avoid?: readonly boolean[],
  from = 0,
): number {
  let best = -1;
  let least = highWater;
  let bestAvoided = -1;
  let leastAvoided = highWater;
  let avoided = 0;
  for (let step = 0; step < lanes.length; step += 1) {
    const index = (from + step) % lanes.length;
    const lane = lanes[index]!;
    const queued = lane.bufferedAmount;
    if (avoid ? avoid[index] : lane.resting) {
      avoided += 1;
      if (queued < leastAvoided) {
        bestAvoided = index;
        leastAvoided = queued;
      }
    } else if (queued < least) {
      best = index;
      least = queued;
    }
  }
  if (best !== -1) return best;
  // Only avoided lanes have room: use one only if every lane is avoided (else wait for a good one).
  return avoided === lanes.length ? bestAvoided : -1;
}
