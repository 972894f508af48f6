import type { ErrorCategory } from '../errors';
import { LatencyHistogram } from './histogram';

/** What the popup shows and what is persisted across service-worker restarts. */
export interface StatsSnapshot {
  queued: number;
  inflight: number;
  completed: number;
  failed: number;
  failedByCategory: Partial<Record<ErrorCategory, number>>;
  latencyMs: { p50: number | null; p95: number | null; p99: number | null };
  bytesIn: number;
  peers: number;
  sharedRequests: number;
  sharedBytes: number;
  refusedByCategory: Partial<Record<ErrorCategory, number>>;
}

export interface PersistedStats {
  completed: number;
  failed: number;
  failedByCategory: Partial<Record<ErrorCategory, number>>;
  latency: number[];
  bytesIn: number;
  sharedRequests: number;
  sharedBytes: number;
  refusedByCategory: Partial<Record<ErrorCategory, number>>;
}

function bump(map: Partial<Record<ErrorCategory, number>>, category: ErrorCategory): void {
  map[category] = (map[category] ?? 0) + 1;
}

function nonNegative(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}

function categoryCounts(value: unknown): Partial<Record<ErrorCategory, number>> {
  if (typeof value !== 'object' || value === null) return {};
  const out: Partial<Record<string, number>> = {};
  for (const [key, count] of Object.entries(value)) out[key] = nonNegative(count);
  return out as Partial<Record<ErrorCategory, number>>;
}

/** Counters and latency percentiles for both roles. Gauges (queued, in flight, peers) are read live. */
export class Stats {
  private completed = 0;
  private failed = 0;
  private failedByCategory: Partial<Record<ErrorCategory, number>> = {};
  private latency = new LatencyHistogram();
  private bytesIn = 0;
  private sharedRequests = 0;
  private sharedBytes = 0;
  private refusedByCategory: Partial<Record<ErrorCategory, number>> = {};

  static restore(persisted: unknown): Stats {
    const stats = new Stats();
    if (typeof persisted !== 'object' || persisted === null) return stats;
    const record = persisted as Partial<Record<keyof PersistedStats, unknown>>;
    stats.completed = nonNegative(record.completed);
    stats.failed = nonNegative(record.failed);
    stats.failedByCategory = categoryCounts(record.failedByCategory);
    stats.latency = new LatencyHistogram(Array.isArray(record.latency) ? (record.latency as number[]) : undefined);
    stats.bytesIn = nonNegative(record.bytesIn);
    stats.sharedRequests = nonNegative(record.sharedRequests);
    stats.sharedBytes = nonNegative(record.sharedBytes);
    stats.refusedByCategory = categoryCounts(record.refusedByCategory);
    return stats;
  }

  requestCompleted(latencyMs: number): void {
    this.completed += 1;
    this.latency.record(latencyMs);
  }

  /** A request the page itself cancelled is counted under `cancelled`, not as a failure. */
  requestFailed(category: ErrorCategory): void {
    if (category !== 'cancelled') this.failed += 1;
    bump(this.failedByCategory, category);
  }

  bytesReceived(bytes: number): void {
    this.bytesIn += bytes;
  }

  exitServed(): void {
    this.sharedRequests += 1;
  }

  exitBytesSent(bytes: number): void {
    this.sharedBytes += bytes;
  }

  exitRefused(category: ErrorCategory): void {
    bump(this.refusedByCategory, category);
  }

  snapshot(gauges: { queued: number; inflight: number; peers: number }): StatsSnapshot {
    return {
      ...gauges,
      completed: this.completed,
      failed: this.failed,
      failedByCategory: { ...this.failedByCategory },
      latencyMs: { p50: this.latency.quantile(0.5), p95: this.latency.quantile(0.95), p99: this.latency.quantile(0.99) },
      bytesIn: this.bytesIn,
      sharedRequests: this.sharedRequests,
      sharedBytes: this.sharedBytes,
      refusedByCategory: { ...this.refusedByCategory },
    };
  }

  toJSON(): PersistedStats {
    return {
      completed: this.completed,
      failed: this.failed,
      failedByCategory: { ...this.failedByCategory },
      latency: this.latency.toJSON(),
      bytesIn: this.bytesIn,
      sharedRequests: this.sharedRequests,
      sharedBytes: this.sharedBytes,
      refusedByCategory: { ...this.refusedByCategory },
    };
  }
}
