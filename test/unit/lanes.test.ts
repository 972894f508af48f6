import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PeerlaneError } from '../../extension/core/errors';
import { decodeFrame, encodeFrame } from '../../extension/core/protocol/codec';
import {
  ACK_EVERY_MESSAGES,
  AUTO_LANES_MIN_RTT_MS,
  automaticLaneCount,
  isLaneControl,
  LaneReceiver,
  LaneSender,
  pickLane,
} from '../../extension/core/peers/lanes';

const frameOf = (index: number) => new Uint8Array([index & 0xff, (index >> 8) & 0xff, 7]);
const indexOf = (frame: Uint8Array) => frame[0]! | (frame[1]! << 8);

function categoryOf(run: () => void): string | null {
  try {
    run();
    return null;
  } catch (error) {
    return error instanceof PeerlaneError ? error.category : 'untyped';
  }
}

/** Both ends of a striped connection that said they recover stalled lanes. */
function recoveringPair(deliver: (frame: Uint8Array) => void, options: { next?: number } = {}) {
  const sender = new LaneSender(options.next);
  sender.retain = true;
  const receiver = new LaneReceiver(deliver, { expected: options.next });
  receiver.recovering = true;
  return { sender, receiver };
}

describe('lanes: frames striped over several channels, delivered in sending order', () => {
  it('whatever order the lanes deliver in, frames come out as they were sent', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 300 }),
        fc.array(fc.nat(), { maxLength: 300 }),
        (lanes, choices, pops) => {
          // Each lane is FIFO (an ordered data channel); the lanes interleave arbitrarily.
          const sender = new LaneSender();
          const queues: Uint8Array[][] = Array.from({ length: lanes }, () => []);
          choices.forEach((choice, index) =>
            queues[choice % lanes]!.push(sender.stamp(frameOf(index), choice % lanes)),
          );
          const out: number[] = [];
          const receiver = new LaneReceiver((frame) => out.push(indexOf(frame)));
          let step = 0;
          while (queues.some((queue) => queue.length > 0)) {
            const open = queues.filter((queue) => queue.length > 0);
            receiver.receive(open[(pops[step++] ?? 0) % open.length]!.shift()!, step);
          }
          expect(out).toEqual(choices.map((_, index) => index & 0xffff));
          expect(receiver.heldBytes).toBe(0);
          expect(receiver.waitingSince).toBeNull();
        },
      ),
    );
  });

  it('holds early frames until the gap fills, then releases them at once', () => {
    const sender = new LaneSender();
    const [first, second, third] = [0, 1, 2].map((index) => sender.stamp(frameOf(index), 0));
    const out: number[] = [];
    const receiver = new LaneReceiver((frame) => out.push(frame[0]!));
    receiver.receive(third!, 10);
    receiver.receive(second!, 11);
    expect(out).toEqual([]);
    expect(receiver.heldBytes).toBe(6);
    expect(receiver.waitingSince).toBe(10);
    receiver.receive(first!, 12);
    expect(out).toEqual([0, 1, 2]);
    expect(receiver.waitingSince).toBeNull();
  });

  it('numbers wrap past 2^31 (the top bit marks control messages) without a hitch', () => {
    const sender = new LaneSender(0x7fff_fffe);
    const out: number[] = [];
    const receiver = new LaneReceiver((frame) => out.push(frame[0]!), { expected: 0x7fff_fffe });
    const stamped = [0, 1, 2, 3].map((index) => sender.stamp(frameOf(index), 0));
    expect(stamped.map(isLaneControl)).toEqual([false, false, false, false]);
    for (const message of [stamped[1]!, stamped[3]!, stamped[0]!, stamped[2]!]) receiver.receive(message, 0);
    expect(out).toEqual([0, 1, 2, 3]);
  });

  it('refuses, typed: a message without a number, a duplicate (from a peer that does not recover), a peer too far ahead of a gap', () => {
    const sender = new LaneSender();
    const first = sender.stamp(frameOf(0), 0);
    const receiver = new LaneReceiver(() => undefined, { maxEarlyBytes: 10 });
    expect(categoryOf(() => receiver.receive(new Uint8Array(3), 0))).toBe('frame_malformed');
    receiver.receive(first, 0);
    expect(categoryOf(() => receiver.receive(first, 0))).toBe('protocol_error');
    const early = [1, 2, 3, 4].map((index) => sender.stamp(frameOf(index), 0));
    receiver.receive(early[1]!, 0);
    receiver.receive(early[2]!, 0);
    receiver.receive(early[3]!, 0); // 9 bytes held: within 10
    expect(categoryOf(() => receiver.receive(sender.stamp(new Uint8Array(2), 0), 0))).toBe('protocol_error');
    expect(categoryOf(() => receiver.receive(early[3]!, 0))).toBe('protocol_error');
  });

  it('a receiver that does not recover never acknowledges or asks; a sender that does not retain keeps nothing', () => {
    const sender = new LaneSender();
    const receiver = new LaneReceiver(() => undefined);
    const stamped = Array.from({ length: 2 * ACK_EVERY_MESSAGES }, (_, index) => sender.stamp(frameOf(index), 0));
    expect(sender.retainedBytes).toBe(0);
    expect(receiver.receive(stamped[1]!, 0)).toBeNull();
    expect(receiver.resendRequest(10_000, 250)).toBeNull();
    for (const message of [stamped[0]!, ...stamped.slice(2)]) expect(receiver.receive(message, 0)).toBeNull();
  });

  it('picks the open lane with the least queued; none when every lane is at the high-water mark', () => {
    const queued = (...amounts: number[]) => amounts.map((bufferedAmount) => ({ bufferedAmount }));
    expect(pickLane(queued(300, 100, 200), 1000)).toBe(1);
    expect(pickLane(queued(1000, 999), 1000)).toBe(1);
    expect(pickLane(queued(1000, 2000), 1000)).toBe(-1);
    expect(pickLane([], 1000)).toBe(-1);
  });

  it('chosen automatically: every allowed lane over a long path, one over a near or unmeasured one', () => {
    expect(automaticLaneCount(50, 8)).toBe(8);
    expect(automaticLaneCount(AUTO_LANES_MIN_RTT_MS, 4)).toBe(4);
    expect(automaticLaneCount(AUTO_LANES_MIN_RTT_MS - 0.1, 8)).toBe(1);
    expect(automaticLaneCount(0.3, 8)).toBe(1);
    expect(automaticLaneCount(null, 8)).toBe(1);
    expect(automaticLaneCount(150, 1)).toBe(1);
  });

  it('equally queued lanes take turns from where the host says, so light traffic reaches every lane; the least queued still wins', () => {
    const queued = (...amounts: number[]) => amounts.map((bufferedAmount) => ({ bufferedAmount }));
    expect([0, 1, 2, 3, 4, 5].map((turn) => pickLane(queued(0, 0, 0), 1000, undefined, turn))).toEqual([
      0, 1, 2, 0, 1, 2,
    ]);
    expect(pickLane(queued(0, 5, 0), 1000, undefined, 1)).toBe(2);
    expect(pickLane(queued(7, 5, 9), 1000, undefined, 2)).toBe(1);
    expect(pickLane(queued(0, 0, 0), 1000, [false, true, false], 1)).toBe(2);
  });

  it('passes over a resting lane while another has room, waits rather than use it, and uses it only when every lane rests', () => {
    const queued = (...amounts: number[]) => amounts.map((bufferedAmount) => ({ bufferedAmount }));
    expect(pickLane(queued(0, 500, 700), 1000, [true, false, false])).toBe(1);
    expect(pickLane(queued(0, 1000), 1000, [true, false])).toBe(-1);
    expect(pickLane(queued(600, 300), 1000, [true, true])).toBe(1);
    expect(pickLane(queued(1000, 1000), 1000, [true, true])).toBe(-1);
  });
});

describe('lanes: a stalled lane is recovered by sending its messages again on another', () => {
  it('acknowledges every few messages and when a gap fills; the sender then lets go of its copies', () => {
    const { sender, receiver } = recoveringPair(() => undefined);
    const stamped = Array.from({ length: ACK_EVERY_MESSAGES + 3 }, (_, index) =>
      sender.stamp(frameOf(index), index % 2),
    );
    expect(sender.retainedBytes).toBe(stamped.length * 7);
    const acks = stamped.slice(0, ACK_EVERY_MESSAGES).map((message) => receiver.receive(message, 0));
    expect(acks.slice(0, -1).every((ack) => ack === null)).toBe(true);
    const ack = acks.at(-1)!;
    expect(ack).not.toBeNull();
    expect(isLaneControl(ack)).toBe(true);
    expect(sender.control(ack)).toEqual([]);
    expect(sender.retainedBytes).toBe(3 * 7);
    // A gap (the next one comes last) fills: acknowledged at once, though fewer than ACK_EVERY came.
    expect(receiver.receive(stamped[ACK_EVERY_MESSAGES + 1]!, 0)).toBeNull();
    const filled = receiver.receive(stamped[ACK_EVERY_MESSAGES]!, 0);
    expect(filled).not.toBeNull();
    sender.control(filled!);
    expect(sender.retainedBytes).toBe(7);
  });

  it('asks for a gap only after it waited the stall time, names only what is missing, and asks again a stall later', () => {
    const { sender, receiver } = recoveringPair(() => undefined);
    const stamped = Array.from({ length: 6 }, (_, index) => sender.stamp(frameOf(index), index % 2));
    expect(receiver.resendRequest(1000, 250)).toBeNull(); // no gap
    for (const index of [0, 2, 4, 5]) receiver.receive(stamped[index]!, 100); // 1 and 3 (lane 1) stalled
    expect(receiver.waitingSince).toBe(100);
    expect(receiver.resendRequest(349, 250)).toBeNull();
    const request = receiver.resendRequest(350, 250)!;
    expect(isLaneControl(request)).toBe(true);
    const resends = sender.control(request);
    expect(resends.map((resend) => resend.lane)).toEqual([1, 1]);
    expect(
      resends.map((resend) =>
        Buffer.from(resend.message).equals(Buffer.from(stamped[resends.indexOf(resend) * 2 + 1]!)),
      ),
    ).toEqual([true, true]);
    expect(receiver.resendRequest(599, 250)).toBeNull();
    expect(receiver.resendRequest(600, 250)).not.toBeNull();
  });

  it('a gap that moves on is a new wait, counted from when it moved', () => {
    const { sender, receiver } = recoveringPair(() => undefined);
    const stamped = Array.from({ length: 4 }, (_, index) => sender.stamp(frameOf(index), 0));
    receiver.receive(stamped[1]!, 0);
    receiver.receive(stamped[3]!, 0);
    receiver.receive(stamped[0]!, 200); // delivers 0 and 1; now waits on 2
    expect(receiver.waitingSince).toBe(200);
    expect(receiver.resendRequest(300, 250)).toBeNull();
    expect(sender.control(receiver.resendRequest(450, 250)!).map((resend) => resend.message[3])).toEqual([2]);
  });

  it("drops the stalled lane's late copy of a message it already had from the resend", () => {
    const out: number[] = [];
    const { sender, receiver } = recoveringPair((frame) => out.push(indexOf(frame)));
    const stamped = [0, 1, 2].map((index) => sender.stamp(frameOf(index), index === 1 ? 1 : 0));
    receiver.receive(stamped[0]!, 0);
    receiver.receive(stamped[2]!, 0);
    for (const { message } of sender.control(receiver.resendRequest(1000, 250)!)) receiver.receive(message, 1000);
    receiver.receive(stamped[1]!, 2000); // the stalled lane delivers after all
    receiver.receive(stamped[2]!, 2000);
    expect(out).toEqual([0, 1, 2]);
    expect(receiver.duplicates).toBe(2);
  });

  it('whatever lane stalls and whenever, every frame arrives once and in order', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 8 }),
        fc.array(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 200 }),
        fc.integer({ min: 0, max: 7 }),
        fc.boolean(),
        fc.array(fc.nat(), { maxLength: 400 }),
        (lanes, choices, stalledChoice, stalledDeliversLate, pops) => {
          const out: number[] = [];
          const { sender, receiver } = recoveringPair((frame) => out.push(indexOf(frame)), { next: 0x7fff_ff00 });
          const stalled = stalledChoice % lanes;
          const queues: Uint8Array[][] = Array.from({ length: lanes }, () => []);
          choices.forEach((choice, index) =>
            queues[choice % lanes]!.push(sender.stamp(frameOf(index), choice % lanes)),
          );
          // Then a message on a working lane: a gap shows only once something after it arrives, and
          // something always does (the registry pings every peer every 2 s, and every ping is answered).
          queues[(stalled + 1) % lanes]!.push(sender.stamp(frameOf(choices.length), (stalled + 1) % lanes));
          const held = queues[stalled]!.splice(0); // the stalled association delivers nothing meanwhile
          let now = 0;
          let step = 0;
          // Bounded: each round delivers what is queued, then asks for the gap and sends it again elsewhere.
          for (let round = 0; round < 20 && out.length < choices.length; round += 1) {
            while (queues.some((queue) => queue.length > 0)) {
              const open = queues.filter((queue) => queue.length > 0);
              const ack = receiver.receive(open[(pops[step++] ?? 0) % open.length]!.shift()!, now);
              if (ack) sender.control(ack);
            }
            now += 300;
            const request = receiver.resendRequest(now, 250);
            if (!request) continue;
            for (const { message, lane } of sender.control(request)) {
              expect(lane).toBe(stalled);
              queues[(stalled + 1) % lanes]!.push(message);
            }
          }
          if (stalledDeliversLate) for (const message of held) receiver.receive(message, now);
          expect(out).toEqual([...choices, 0].map((_, index) => index & 0xffff));
          expect(receiver.heldBytes).toBe(0);
        },
      ),
    );
  });

  it('keeps no more than its bound, and refuses a control message it cannot read', () => {
    const sender = new LaneSender(0, 20);
    sender.retain = true;
    for (let index = 0; index < 5; index += 1) sender.stamp(frameOf(index), 0);
    expect(sender.retainedBytes).toBe(14); // two of 7 bytes fit in 20
    expect(categoryOf(() => sender.control(new Uint8Array([0x80, 0, 0, 1])))).toBe('frame_malformed');
    expect(categoryOf(() => sender.control(new Uint8Array([0x80, 0, 0, 1, 0, 0])))).toBe('frame_malformed');
    expect(categoryOf(() => sender.control(new Uint8Array([0x80, 0, 0, 9, 0, 0, 0, 0])))).toBe('frame_malformed');
  });
});

describe('lanes ordered by stream: a gap holds back only the stream it belongs to', () => {
  /** A frame of `stream` (a HELLO on stream 0 when `hello`), its payload naming it: `tag`. */
  const frame = (stream: number, tag: number, hello = false): Uint8Array =>
    hello
      ? encodeFrame({
          type: 'HELLO',
          streamId: 0,
          flags: 0,
          hello: { version: 1, role: 'exit', capabilities: [String(tag)], exitCapacity: 1 },
        })
      : encodeFrame({ type: 'BODY', streamId: stream, flags: 0, data: new Uint8Array([tag & 0xff, tag >> 8]) });
  const tagOf = (bytes: Uint8Array): string => {
    const decoded = decodeFrame(bytes);
    if (decoded.type === 'HELLO') return `hello${decoded.hello.capabilities[0]}`;
    if (decoded.type !== 'BODY') throw new Error(`unexpected ${decoded.type}`);
    return `s${decoded.streamId}:${decoded.data[0]! | (decoded.data[1]! << 8)}`;
  };
  function orderedPair(deliver: (frame: Uint8Array) => void) {
    const { sender, receiver } = recoveringPair(deliver);
    sender.orderByStream();
    receiver.orderByStream();
    return { sender, receiver };
  }

  it("a lost message holds back its own stream's later messages, not another stream's; they follow once it comes", () => {
    const out: string[] = [];
    const { sender, receiver } = orderedPair((bytes) => out.push(tagOf(bytes)));
    const [hello, oneFirst, twoFirst, oneSecond, twoSecond] = [
      frame(0, 0, true),
      frame(1, 1),
      frame(2, 1),
      frame(1, 2),
      frame(2, 2),
    ].map((each) => sender.stamp(each, 0));
    receiver.receive(hello!, 0);
    // Stream 1's first message is late (its lane stalled): stream 2 goes on regardless.
    for (const message of [twoFirst, oneSecond, twoSecond]) receiver.receive(message!, 1);
    expect(out).toEqual(['hello0', 's2:1', 's2:2']);
    expect(receiver.heldBytes).toBe(oneSecond!.byteLength - 8);
    expect(receiver.waitingSince).toBe(1);
    receiver.receive(oneFirst!, 2);
    expect(out).toEqual(['hello0', 's2:1', 's2:2', 's1:1', 's1:2']);
    expect([receiver.heldBytes, receiver.waitingSince]).toEqual([0, null]);
  });

  it('a HELLO waits for every message sent before it, and every stream waits for the HELLO', () => {
    const out: string[] = [];
    const { sender, receiver } = orderedPair((bytes) => out.push(tagOf(bytes)));
    const [before, hello, sameStream, newStream] = [frame(1, 1), frame(0, 9, true), frame(1, 2), frame(3, 1)].map(
      (each) => sender.stamp(each, 0),
    );
    for (const message of [hello, sameStream, newStream]) receiver.receive(message!, 0);
    expect(out).toEqual([]);
    receiver.receive(before!, 1);
    expect(out.slice(0, 2)).toEqual(['s1:1', 'hello9']);
    expect(new Set(out.slice(2))).toEqual(new Set(['s1:2', 's3:1']));
  });

  it('whatever order the lanes deliver in, each stream arrives in its order, everything once, each HELLO after all before it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 7 }), fc.integer({ min: 0, max: 5 })), {
          minLength: 1,
          maxLength: 300,
        }),
        fc.array(fc.nat(), { maxLength: 300 }),
        (lanes, sends, pops) => {
          // Stream 0 with choice 0 is a HELLO; the rest are stream frames tagged with their send index.
          const out: string[] = [];
          const { sender, receiver } = orderedPair((bytes) => out.push(tagOf(bytes)));
          const queues: Uint8Array[][] = Array.from({ length: lanes }, () => []);
          const sent = sends.map(([lane, stream], index) => {
            const tag = stream === 0 ? `hello${index}` : `s${stream}:${index}`;
            queues[lane % lanes]!.push(sender.stamp(frame(stream, index, stream === 0), lane % lanes));
            return tag;
          });
          let step = 0;
          while (queues.some((queue) => queue.length > 0)) {
            const open = queues.filter((queue) => queue.length > 0);
            receiver.receive(open[(pops[step++] ?? 0) % open.length]!.shift()!, step);
          }
          expect([...out].sort()).toEqual([...sent].sort());
          for (const stream of [1, 2, 3, 4, 5])
            expect(out.filter((tag) => tag.startsWith(`s${stream}:`))).toEqual(
              sent.filter((tag) => tag.startsWith(`s${stream}:`)),
            );
          // A HELLO comes after everything sent before it, and before everything sent after it.
          for (const [index, tag] of sent.entries()) {
            if (!tag.startsWith('hello')) continue;
            const at = out.indexOf(tag);
            expect(sent.slice(0, index).every((before) => out.indexOf(before) < at)).toBe(true);
            expect(sent.slice(index + 1).every((after) => out.indexOf(after) > at)).toBe(true);
          }
          expect([receiver.heldBytes, receiver.waitingSince]).toEqual([0, null]);
        },
      ),
    );
  });

  it('a sender forgets what the receiver acknowledged: a stream whose last message arrived follows nothing', () => {
    const { sender, receiver } = orderedPair(() => undefined);
    const first = sender.stamp(frame(1, 1), 0);
    let ack = receiver.receive(first, 0);
    for (let index = 0; index < ACK_EVERY_MESSAGES - 1; index += 1)
      ack = receiver.receive(sender.stamp(frame(2, index), 0), 0) ?? ack;
    expect(ack).not.toBeNull();
    sender.control(ack!);
    const next = sender.stamp(frame(1, 2), 0);
    // Its second word names itself: nothing to follow.
    expect([...next.subarray(4, 8)]).toEqual([...next.subarray(0, 4)]);
  });
});
