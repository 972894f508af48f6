import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS, parseSettings, validateSettings } from '../../extension/core/settings';
import { LatencyHistogram } from '../../extension/core/stats/histogram';
import { Stats } from '../../extension/core/stats/stats';

describe('latency histogram', () => {
  it('gives percentiles within 4% of the exact values', () => {
    const histogram = new LatencyHistogram();
    for (let ms = 1; ms <= 1000; ms += 1) histogram.record(ms);
    for (const [q, exact] of [[0.5, 500], [0.95, 950], [0.99, 990]] as const) {
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

describe('stats', () => {
  it('counts, and survives a round trip through storage', () => {
    const stats = new Stats();
    stats.requestCompleted(20);
    stats.requestCompleted(40);
    stats.requestFailed('destination_refused');
    stats.exitServed();
    stats.exitBytesSent(1234);
    const restored = Stats.restore(JSON.parse(JSON.stringify(stats)));
    const snapshot = restored.snapshot({ queued: 1, inflight: 2, peers: 3 });
    expect(snapshot).toMatchObject({ queued: 1, inflight: 2, peers: 3, completed: 2, failed: 1, sharedRequests: 1, sharedBytes: 1234 });
    expect(snapshot.failedByCategory).toEqual({ destination_refused: 1 });
    expect(snapshot.latencyMs.p50).toBeGreaterThan(19);
    expect(snapshot.latencyMs.p50).toBeLessThan(21);
  });

  it('counts a cancellation by category but not as a failure', () => {
    const stats = new Stats();
    stats.requestFailed('cancelled');
    stats.requestFailed('timeout');
    const snapshot = stats.snapshot({ queued: 0, inflight: 0, peers: 0 });
    expect(snapshot.failed).toBe(1);
    expect(snapshot.failedByCategory).toEqual({ cancelled: 1, timeout: 1 });
  });

  it('restores from garbage as empty stats', () => {
    expect(Stats.restore('nonsense').snapshot({ queued: 0, inflight: 0, peers: 0 }).completed).toBe(0);
    expect(Stats.restore({ completed: -5, latency: 'x' }).snapshot({ queued: 0, inflight: 0, peers: 0 }).completed).toBe(0);
  });
});

describe('settings', () => {
  it('defaults are the documented ones', () => {
    expect(parseSettings(undefined)).toEqual({ signalingUrl: 'ws://127.0.0.1:8787', share: false, routedOrigins: [], allowPrivateTargets: false });
    expect(DEFAULT_SETTINGS.allowPrivateTargets).toBe(false);
  });

  it('keeps valid fields, replaces damaged ones, normalises origins', () => {
    const parsed = parseSettings({ share: true, signalingUrl: 'http://nope', routedOrigins: ['https://Example.com/path', 'https://example.com'] });
    expect(parsed.share).toBe(true);
    expect(parsed.signalingUrl).toBe(DEFAULT_SETTINGS.signalingUrl);
    expect(parsed.routedOrigins).toEqual(['https://example.com']);
  });

  it('validation names every problem', () => {
    const result = validateSettings({ signalingUrl: 'http://x', share: 'yes', routedOrigins: ['ftp://a'], allowPrivateTargets: false });
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.problems.join('\n')).toMatch(/signalingUrl/);
      expect(result.problems.join('\n')).toMatch(/share/);
      expect(result.problems.join('\n')).toMatch(/routedOrigins/);
    }
  });
});
