import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PeerlaneError } from '../../extension/core/errors';
import { LaneReassembler, LaneStamper, pickLane } from '../../extension/core/peers/lanes';

const frameOf = (index: number) => new Uint8Array([index & 0xff, (index >> 8) & 0xff, 7]);

function categoryOf(run: () => void): string | null {
  try {
    run();
    return null;
  } catch (error) {
    return error instanceof PeerlaneError ? error.category : 'untyped';
  }
}

describe('lanes: frames striped over several channels, delivered in sending order', () => {
  it('whatever order the lanes deliver in, frames come out as they were sent', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.array(fc.integer({ min: 0, max: 7 }), { minLength: 1, maxLength: 300 }), fc.array(fc.nat(), { maxLength: 300 }), (lanes, choices, pops) => {
        // Each lane is FIFO (an ordered data channel); the lanes interleave arbitrarily.
        const stamper = new LaneStamper();
        const queues: Uint8Array[][] = Array.from({ length: lanes }, () => []);
        choices.forEach((choice, index) => queues[choice % lanes]!.push(stamper.stamp(frameOf(index))));
        const out: number[] = [];
        const reassembler = new LaneReassembler((frame) => out.push(frame[0]! | (frame[1]! << 8)));
        let step = 0;
        while (queues.some((queue) => queue.length > 0)) {
          const open = queues.filter((queue) => queue.length > 0);
          reassembler.receive(open[(pops[step++] ?? 0) % open.length]!.shift()!);
        }
        expect(out).toEqual(choices.map((_, index) => index & 0xffff));
        expect(reassembler.heldBytes).toBe(0);
      }),
    );
  });

  it('holds early frames until the gap fills, then releases them at once', () => {
    const stamper = new LaneStamper();
    const [first, second, third] = [0, 1, 2].map((index) => stamper.stamp(frameOf(index)));
    const out: number[] = [];
    const reassembler = new LaneReassembler((frame) => out.push(frame[0]!));
    reassembler.receive(third!);
    reassembler.receive(second!);
    expect(out).toEqual([]);
    expect(reassembler.heldBytes).toBe(6);
    reassembler.receive(first!);
    expect(out).toEqual([0, 1, 2]);
  });

  it('numbers wrap past 2^32 without a hitch', () => {
    const stamper = new LaneStamper(0xffff_fffe);
    const out: number[] = [];
    const counting = new LaneReassembler((frame) => out.push(frame[0]!), undefined, 0xffff_fffe);
    const stamped = [0, 1, 2, 3].map((index) => stamper.stamp(frameOf(index)));
    for (const message of [stamped[1]!, stamped[3]!, stamped[0]!, stamped[2]!]) counting.receive(message);
    expect(out).toEqual([0, 1, 2, 3]);
  });

  it('refuses, typed: a message without a number, a duplicate, a peer too far ahead of a gap', () => {
    const stamper = new LaneStamper();
    const first = stamper.stamp(frameOf(0));
    const reassembler = new LaneReassembler(() => undefined, 10);
    expect(categoryOf(() => reassembler.receive(new Uint8Array(3)))).toBe('frame_malformed');
    reassembler.receive(first);
    expect(categoryOf(() => reassembler.receive(first))).toBe('protocol_error');
    const early = [1, 2, 3, 4].map((index) => stamper.stamp(frameOf(index)));
    reassembler.receive(early[1]!);
    reassembler.receive(early[2]!);
    reassembler.receive(early[3]!); // 9 bytes held: within 10
    expect(categoryOf(() => reassembler.receive(stamper.stamp(new Uint8Array(2))))).toBe('protocol_error');
    expect(categoryOf(() => reassembler.receive(early[3]!))).toBe('protocol_error');
  });

  it('picks the open lane with the least queued; none when every lane is at the high-water mark', () => {
    const queued = (...amounts: number[]) => amounts.map((bufferedAmount) => ({ bufferedAmount }));
    expect(pickLane(queued(300, 100, 200), 1000)).toBe(1);
    expect(pickLane(queued(1000, 999), 1000)).toBe(1);
    expect(pickLane(queued(1000, 2000), 1000)).toBe(-1);
    expect(pickLane([], 1000)).toBe(-1);
  });
});
