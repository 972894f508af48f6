import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, parseSettings, validateSettings } from '../../extension/core/settings';
import { LatencyHistogram } from '../../extension/core/stats/histogram';
import type { QueueEvent, RequestRecord } from '../../extension/core/queue/request-queue';
import { displayUrl, RequestLog, type RequestLogEntry } from '../../extension/core/stats/request-log';
import { Stats } from '../../extension/core/stats/stats';
import { Timeline } from '../../extension/core/stats/timeline';

describe('latency histogram', () => {
  it('gives percentiles within 4% of the exact values', () => {
    const histogram = new LatencyHistogram();
    for (let ms = 1; ms <= 1000; ms += 1) histogram.record(ms);
    for (const [q, exact] of [
      [0.5, 500],
      [0.95, 950],
      [0.99, 990],
    ] as const) {
      const estimate = histogram.quantile(q)!;
      expect(Math.abs(estimate - exact) / exact).toBeLessThan(0.04);
    }
    expect(new LatencyHistogram().quantile(0.5)).toBeNull();
  });

  it('keeps fixed memory whatever the sample count', () => {
    const histogram = new LatencyHistogram();
    for (let i = 0; i < 100_000; i += 1) histogram.record(i % 5000);
    expect(histogram.toJSON()).toHaveLength(512);
    expect(histogram.count).toBe(100_000);
  });
});

const gauges = {
  queued: 1,
  queuedByPriority: { document: 0, interactive: 1, background: 0, retry: 0 },
  inflight: 2,
  peers: 3,
};

function finished(overrides: Partial<RequestRecord>): QueueEvent {
  return {
    type: 'finished',
    record: {
      id: 1,
      correlationId: 'c1',
      resumeOf: null,
      priority: 'interactive',
      ok: true,
      category: null,
      message: null,
      peerId: 'p',
      attempts: 1,
      hedged: false,
      hedgeWon: null,
      queueWaitMs: 2,
      ttfbMs: 10,
      transferMs: 8,
      totalMs: 20,
      ...overrides,
    },
  };
}

describe('stats', () => {
  it('counts queue events, decomposes latency, and survives a round trip through storage', () => {
    const stats = new Stats();
    stats.onQueueEvent(finished({ totalMs: 20, queueWaitMs: 2, ttfbMs: 10, transferMs: 8 }));
    stats.onQueueEvent(finished({ totalMs: 40, queueWaitMs: 4, ttfbMs: 20, transferMs: 16 }));
    stats.onQueueEvent(finished({ ok: false, category: 'destination_refused' }));
    stats.onQueueEvent({ type: 'rejected', category: 'queue_full', priority: 'background' });
    stats.onQueueEvent({ type: 'dispatched', id: 1, peerId: 'p', kind: 'retry', attempt: 2 });
    stats.onQueueEvent({ type: 'hedge', id: 1, won: true });
    stats.onQueueEvent({ type: 'hedge', id: 2, won: false });
    stats.count('sharedRequests');
    stats.count('sharedBytes', 1234);
    stats.exitRefused('destination_refused');
    const restored = Stats.restore(JSON.parse(JSON.stringify(stats)));
    const snapshot = restored.snapshot(gauges);
    expect(snapshot).toMatchObject({
      queued: 1,
      inflight: 2,
      peers: 3,
      completed: 2,
      failed: 1,
      rejected: 1,
      retries: 1,
      hedgesWon: 1,
      hedgesLost: 1,
      sharedRequests: 1,
      sharedBytes: 1234,
    });
    expect(snapshot.failedByCategory).toEqual({ destination_refused: 1 });
    expect(snapshot.refusedByCategory).toEqual({ destination_refused: 1 });
    expect(snapshot.latencyMs.p50).toBeGreaterThan(19);
    expect(snapshot.latencyMs.p50).toBeLessThan(21);
    expect(snapshot.ttfbMs.p99).toBeGreaterThan(19);
    expect(snapshot.queueWaitMs.p50).toBeLessThan(2.1);
  });

  it('counts a cancellation by category but not as a failure; a resume is not a second request', () => {
    const stats = new Stats();
    stats.onQueueEvent(finished({ ok: false, category: 'cancelled' }));
    stats.onQueueEvent(finished({ ok: false, category: 'timeout' }));
    stats.onQueueEvent(finished({ resumeOf: 'c1' }));
    const snapshot = stats.snapshot(gauges);
    expect(snapshot.failed).toBe(1);
    expect(snapshot.completed).toBe(0);
    expect(snapshot.resumes).toBe(1);
    expect(snapshot.failedByCategory).toEqual({ cancelled: 1, timeout: 1 });
  });

  it('restores from garbage as empty stats', () => {
    expect(Stats.restore('nonsense').snapshot(gauges).completed).toBe(0);
    expect(Stats.restore({ completed: -5, histograms: 'x' }).snapshot(gauges).completed).toBe(0);
  });
});

describe('request log', () => {
  const entry = (id: string): RequestLogEntry => ({
    id,
    at: 0,
    role: 'requester',
    method: 'GET',
    url: displayUrl('https://example.com/a/b?token=secret'),
    peer: 'abcd',
    priority: 'interactive',
    outcome: 'ok',
    status: 200,
    attempts: 1,
    hedged: false,
    hedgeWon: null,
    resumed: 0,
    queueWaitMs: 1,
    ttfbMs: 2,
    transferMs: 3,
    totalMs: 6,
    bytes: 10,
  });

  it('keeps the last N, newest first, without query strings, and restores only valid entries', () => {
    const log = new RequestLog(3);
    for (const id of ['1', '2', '3', '4']) log.add(entry(id));
    expect(log.latest().map((item) => item.id)).toEqual(['4', '3', '2']);
    expect(log.latest()[0]!.url).toBe('example.com/a/b');
    // Invalid entries among valid ones, in a log with room to spare: only the valid come back, in order.
    const restored = RequestLog.restore(
      [entry('a'), { id: 5 }, 'junk', entry('b'), { ...entry('c'), outcome: 'not_a_category' }, entry('d')],
      10,
    );
    expect(restored.latest().map((item) => item.id)).toEqual(['d', 'b', 'a']);
  });
});

describe('settings', () => {
  it('defaults are the documented ones', () => {
    expect(parseSettings(undefined)).toMatchObject({
      signalingUrl: 'ws://127.0.0.1:8787',
      share: false,
      routedOrigins: [],
      privateAllowList: [],
      exitMethods: ['GET', 'HEAD'],
    });
    expect(parseSettings(undefined).queue).toMatchObject({
      maxQueued: 256,
      perPeerConcurrency: 6,
      requestTimeoutMs: 60_000,
      hedging: true,
    });
    expect(DEFAULT_SETTINGS.privateAllowList).toEqual([]);
  });

  it('a stored setting from before lanes were chosen automatically keeps its count and turns the choice on', () => {
    expect(parseSettings({ lanesPerExit: 4 })).toMatchObject({ lanesPerExit: 4, autoLanes: true });
    expect(parseSettings({ lanesPerExit: 3, autoLanes: false })).toMatchObject({ lanesPerExit: 3, autoLanes: false });
    expect(parseSettings(undefined)).toMatchObject({ lanesPerExit: 8, autoLanes: true });
  });

  it('keeps valid fields, replaces damaged ones, normalises origins', () => {
    const parsed = parseSettings({
      share: true,
      signalingUrl: 'http://nope',
      routedOrigins: ['https://Example.com/path', 'https://example.com'],
    });
    expect(parsed.share).toBe(true);
    expect(parsed.signalingUrl).toBe(DEFAULT_SETTINGS.signalingUrl);
    expect(parsed.routedOrigins).toEqual(['https://example.com']);
  });

  it('validation names every problem', () => {
    const result = validateSettings({
      ...DEFAULT_SETTINGS,
      signalingUrl: 'http://x',
      share: 'yes',
      routedOrigins: ['ftp://a'],
      queue: { ...DEFAULT_SETTINGS.queue, maxQueued: 0 },
    });
    expect(result).toMatchObject({
      ok: false,
      problems: expect.arrayContaining([
        expect.stringMatching(/signalingUrl/),
        expect.stringMatching(/share/),
        expect.stringMatching(/routedOrigins/),
        expect.stringMatching(/queue.maxQueued: queue size must be at least 1/),
      ]),
    });
  });

  it('the development allow-list takes narrow blocks only, and nothing that is not a block', () => {
    expect(validateSettings({ ...DEFAULT_SETTINGS, privateAllowList: ['127.0.0.2/32', 'fd00:1::/64'] }).ok).toBe(true);
    for (const [entry, problem] of [
      ['127.0.0.0/8', /wider than a \/24/],
      ['fd00::/8', /wider than a \/64/],
      ['127.0.0.2', /not an address block/],
      ['localhost/32', /not an address block/],
      ['fe80::1%eth0/128', /not an address block/],
    ] as const) {
      const result = validateSettings({ ...DEFAULT_SETTINGS, privateAllowList: [entry] });
      expect(result, entry).toMatchObject({
        ok: false,
        problems: expect.arrayContaining([expect.stringMatching(problem)]),
      });
    }
    // A damaged stored list falls back to the default (empty), never to "everything".
    expect(parseSettings({ privateAllowList: ['0.0.0.0/0'] }).privateAllowList).toEqual([]);
  });

  it("a group saved by an older version keeps the person's values; the fields added since take their defaults", () => {
    const { stallTimeoutMs: _addedLater, ...olderQueue } = { ...DEFAULT_SETTINGS.queue, maxQueued: 42 };
    const parsed = parseSettings({ queue: olderQueue });
    expect(parsed.queue).toEqual({ ...DEFAULT_SETTINGS.queue, maxQueued: 42 });
    expect(parsed.queue.stallTimeoutMs).toBe(30_000);
    // A field stored wrong still loses the whole group, as before: nothing half-valid is kept.
    expect(parseSettings({ queue: { ...olderQueue, maxQueued: -1 } }).queue).toEqual(DEFAULT_SETTINGS.queue);
  });
});

describe('timeline', () => {
  it('keeps one minute of per-second samples and turns running byte totals into rates', () => {
    const timeline = new Timeline();
    for (let second = 0; second < 75; second += 1)
      timeline.record(second * 1000, { queued: second, inflight: 1, bytesIn: second * 100, bytesShared: second * 10 });
    const samples = timeline.toJSON();
    expect(samples).toHaveLength(60);
    expect(samples[0]).toMatchObject({ at: 15_000, queued: 15, bytesInPerSec: 100, bytesSharedPerSec: 10 });
    expect(samples.at(-1)).toMatchObject({ at: 74_000, queued: 74 });
    const fresh = new Timeline();
    fresh.record(0, { queued: 0, inflight: 0, bytesIn: 5000, bytesShared: 0 });
    expect(fresh.toJSON()[0]!.bytesInPerSec).toBe(0);
  });
});
