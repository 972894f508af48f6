import { describe, expect, it } from 'vitest';
import { PriorityLanes, type LaneEntry, type Priority } from '../../extension/core/queue/priority-lanes';
import { RecentSamples } from '../../extension/core/queue/recent-samples';
import { fullJitterDelay, RetryBudget } from '../../extension/core/queue/retry-budget';
import { FakeClock } from '../helpers/fake-clock';

describe('recent samples (the hedge delay follows their p95)', () => {
  it('is empty at first, then answers quantiles of what it holds', () => {
    const samples = new RecentSamples(8);
    expect(samples.size).toBe(0);
    expect(samples.quantile(0.5)).toBeNull();
    for (const value of [50, 10, 40, 20, 30]) samples.record(value);
    expect(samples.size).toBe(5);
    expect([0, 0.2, 0.5, 0.95, 1].map((q) => samples.quantile(q))).toEqual([10, 20, 30, 50, 50]);
  });

  it('keeps only the last `capacity` samples: old ones fall out of the quantile (its sorted copy is at most 16 samples old)', () => {
    const samples = new RecentSamples(16);
    for (let index = 0; index < 16; index += 1) samples.record(1000);
    expect(samples.quantile(0.5)).toBe(1000);
    for (let index = 1; index <= 16; index += 1) samples.record(index);
    expect(samples.size).toBe(16);
    expect([0, 0.5, 0.99].map((q) => samples.quantile(q))).toEqual([1, 9, 16]);
  });

  it('sorts numerically (not as text), and refreshes its sorted copy within 16 samples', () => {
    const samples = new RecentSamples(64);
    for (const value of [9, 100, 25]) samples.record(value);
    expect(samples.quantile(0)).toBe(9);
    expect(samples.quantile(0.99)).toBe(100);
    const full = new RecentSamples(32);
    for (let index = 0; index < 32; index += 1) full.record(10);
    expect(full.quantile(0.5)).toBe(10);
    for (let index = 0; index < 16; index += 1) full.record(1);
    expect(full.quantile(0)).toBe(1);
    expect(full.quantile(0.99)).toBe(10);
  });
});

describe('the retry budget (Finagle, gRPC): retries and hedges within a share of recent requests', () => {
  it('grants the floor with no requests at all, then refuses', () => {
    const budget = new RetryBudget(new FakeClock(), { ratio: 0.2, floor: 2, windowMs: 10_000 });
    expect([budget.tryWithdraw(), budget.tryWithdraw(), budget.tryWithdraw()]).toEqual([true, true, false]);
  });

  it('grows with requests by the ratio', () => {
    const budget = new RetryBudget(new FakeClock(), { ratio: 0.5, floor: 0, windowMs: 10_000 });
    expect(budget.tryWithdraw()).toBe(false);
    for (let index = 0; index < 4; index += 1) budget.recordRequest();
    // 0.5 × 4 = 2 retries.
    expect([budget.tryWithdraw(), budget.tryWithdraw(), budget.tryWithdraw()]).toEqual([true, true, false]);
  });

  it('forgets requests and withdrawals once they leave the window, bucket by bucket', () => {
    const clock = new FakeClock();
    const budget = new RetryBudget(clock, { ratio: 1, floor: 0, windowMs: 1000 });
    budget.recordRequest();
    expect(budget.tryWithdraw()).toBe(true);
    expect(budget.tryWithdraw()).toBe(false);
    // Within the window (900 ms, the last of ten 100 ms buckets) the request still counts, and so does the withdrawal.
    clock.advance(900);
    expect(budget.tryWithdraw()).toBe(false);
    budget.recordRequest();
    expect(budget.tryWithdraw()).toBe(true);
    // A full window later the first request and withdrawal are gone; the second ones remain.
    clock.advance(100);
    expect(budget.tryWithdraw()).toBe(false);
    budget.recordRequest();
    expect(budget.tryWithdraw()).toBe(true);
    // Long after, everything has left: no requests, no budget.
    clock.advance(10_000);
    expect(budget.tryWithdraw()).toBe(false);
  });

  it('backs off with full jitter: uniform under min(cap, base·2^(retry−1))', () => {
    expect(fullJitterDelay(1, 100, 2000, () => 0.999)).toBeCloseTo(99.9);
    expect(fullJitterDelay(3, 100, 2000, () => 0.5)).toBe(200);
    expect(fullJitterDelay(10, 100, 2000, () => 0.5)).toBe(1000);
    expect(fullJitterDelay(0, 100, 2000, () => 1)).toBe(100);
    expect(fullJitterDelay(2, 100, 2000, () => 0)).toBe(0);
  });
});

describe('priority lanes: document > interactive > background, retries first, aging bounds starvation', () => {
  const entry = (priority: Priority): LaneEntry => ({ priority, enqueuedAt: 0, waiting: false, inRetryLane: false });
  const drain = (lanes: PriorityLanes<LaneEntry>, now: number): LaneEntry[] => {
    const out: LaneEntry[] = [];
    for (let next = lanes.peek(now); next; next = lanes.peek(now)) {
      lanes.take(next);
      out.push(next);
    }
    return out;
  };

  it('serves by priority, then in order of arrival; a retry before all', () => {
    const lanes = new PriorityLanes<LaneEntry>(2000);
    const [background, interactive, document, retry] = [
      entry('background'),
      entry('interactive'),
      entry('document'),
      entry('background'),
    ] as [LaneEntry, LaneEntry, LaneEntry, LaneEntry];
    lanes.push(background, 0);
    lanes.push(interactive, 1);
    lanes.push(document, 2);
    lanes.push(retry, 3, true);
    expect(lanes.size).toBe(4);
    expect(lanes.depth()).toEqual({ document: 1, interactive: 1, background: 1, retry: 1 });
    expect(drain(lanes, 10)).toEqual([retry, document, interactive, background]);
    expect(lanes.size).toBe(0);
  });

  it('once a head has waited agingMs, aged heads go oldest first, whatever their lane', () => {
    const lanes = new PriorityLanes<LaneEntry>(1000);
    const old = entry('background');
    const older = entry('interactive');
    const fresh = entry('document');
    lanes.push(older, 0);
    lanes.push(old, 100);
    lanes.push(fresh, 1099);
    // At 1099 only `older` has waited 1000 ms: it goes before the document.
    expect(lanes.peek(1099)).toBe(older);
    // At exactly 1000 ms of waiting a head counts as aged.
    expect(lanes.peek(1000)).toBe(older);
    expect(lanes.peek(999)).toBe(fresh);
    lanes.take(older);
    // Then `old` (waited 999 ms at 1099) is not aged yet; at 1100 it is.
    expect(lanes.peek(1099)).toBe(fresh);
    expect(lanes.peek(1100)).toBe(old);
  });

  it('a removed entry is skipped and not counted; memory stays within a factor of what waits', () => {
    const lanes = new PriorityLanes<LaneEntry>(2000);
    const kept = entry('background');
    const entries = Array.from({ length: 200 }, () => entry('interactive'));
    for (const each of entries) lanes.push(each, 0);
    lanes.push(kept, 0);
    for (const each of entries) lanes.remove(each);
    lanes.remove(entries[0]!);
    expect(lanes.size).toBe(1);
    expect(lanes.depth()).toEqual({ document: 0, interactive: 0, background: 1, retry: 0 });
    expect(lanes.stored).toBeLessThan(200);
    expect(drain(lanes, 0)).toEqual([kept]);
  });

  it('take must follow peek', () => {
    const lanes = new PriorityLanes<LaneEntry>(2000);
    const first = entry('document');
    const second = entry('document');
    lanes.push(first, 0);
    lanes.push(second, 0);
    expect(() => lanes.take(second)).toThrow('priority lanes: take() must follow peek()');
  });
});
