import type { ErrorCategory } from '../errors';
import type { QueueEvent } from '../queue/request-queue';
import { LatencyHistogram } from './histogram';

/**
 * Counters and latency histograms for both roles, fed by queue events and the exit handler.
 * Gauges (queue depth, in flight, peers) are read live by the caller and passed to `snapshot`.
 * Everything here is bounded (histograms are fixed-size) and persisted across worker restarts.
 */
type CategoryCounts = Partial<Record<ErrorCategory, number>>;

const HISTOGRAMS = ['total', 'queueWait', 'ttfb', 'transfer'] as const;
type HistogramName = (typeof HISTOGRAMS)[number];

const COUNTERS = [
  'completed',
  'failed',
  'rejected',
  'retries',
  'hedgesWon',
  'hedgesLost',
  'resumes',
  'ejections',
  'bytesIn',
  'sharedRequests',
  'sharedBytes',
  'backgroundStarts',
  'portsRefused',
  'portsInvalid',
  // Checked exits (core/checks/exit-checks.ts): answers compared, and how the comparisons ended.
  'exitChecks',
  'exitChecksAgreed',
  'exitChecksInconclusive',
  'exitChecksFromHedges',
  'exitsFlagged',
  // The routed cache (core/http/routed-cache.ts): answered from it, revalidated by a 304, sent to the network; bytes it served.
  'cacheHits',
  'cacheRevalidated',
  'cacheMisses',
  'cacheBytes',
] as const;
export type CounterName = (typeof COUNTERS)[number];

export interface Percentiles {
  p50: number | null;
  p95: number | null;
  p99: number | null;
}

export interface StatsGauges {
  queued: number;
  queuedByPriority: { document: number; interactive: number; background: number; retry: number };
  inflight: number;
  peers: number;
}

export type StatsSnapshot = StatsGauges &
  Record<CounterName, number> & {
    /** Bytes this exit served on the local calendar day `sharedDay` (YYYY-MM-DD). */
    sharedBytesToday: number;
    sharedDay: string;
    /** Bytes served in the local calendar month `sharedMonth` (YYYY-MM): the monthly quota's measure. */
    sharedBytesThisMonth: number;
    sharedMonth: string;
    failedByCategory: CategoryCounts;
    refusedByCategory: CategoryCounts;
    latencyMs: Percentiles;
    queueWaitMs: Percentiles;
    ttfbMs: Percentiles;
    transferMs: Percentiles;
  };

export type PersistedStats = Record<CounterName, number> & {
  sharedBytesToday: number;
  sharedDay: string;
  sharedBytesThisMonth: number;
  sharedMonth: string;
  failedByCategory: CategoryCounts;
  refusedByCategory: CategoryCounts;
  histograms: Record<HistogramName, number[]>;
};

/** The local calendar date, YYYY-MM-DD: "today" for the bytes a sharer gave and its quota. */
export function localDay(date = new Date()): string {
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, '0')}-${String(date.getDate()).padStart(2, '0')}`;
}

function bump(map: CategoryCounts, category: ErrorCategory): void {
  map[category] = (map[category] ?? 0) + 1;
}

function nonNegative(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : 0;
}

function categoryCounts(value: unknown): CategoryCounts {
  if (typeof value !== 'object' || value === null) return {};
  const out: Partial<Record<string, number>> = {};
  for (const [key, count] of Object.entries(value)) out[key] = nonNegative(count);
  return out;
}

function percentiles(histogram: LatencyHistogram): Percentiles {
  return { p50: histogram.quantile(0.5), p95: histogram.quantile(0.95), p99: histogram.quantile(0.99) };
}

/** Bytes counted within one calendar period (a day or a month, as text); a new period starts from zero. */
class PeriodBytes {
  period = '';
  bytes = 0;

  add(bytes: number, period: string): void {
    if (period !== this.period) {
      this.period = period;
      this.bytes = 0;
    }
    this.bytes += bytes;
  }

  /** Bytes counted in `period`; zero once another has begun. */
  in(period: string): number {
    return period === this.period ? this.bytes : 0;
  }

  restore(period: unknown, bytes: unknown, length: number): void {
    this.period = typeof period === 'string' ? period.slice(0, length) : '';
    this.bytes = nonNegative(bytes);
  }
}

export class Stats {
  private readonly counters = Object.fromEntries(COUNTERS.map((name) => [name, 0])) as Record<CounterName, number>;
  /** Bytes shared on the local calendar day (YYYY-MM-DD) and month (YYYY-MM): what the quotas measure. */
  private readonly sharedDay = new PeriodBytes();
  private readonly sharedMonth = new PeriodBytes();
  private failedByCategory: CategoryCounts = {};
  private refusedByCategory: CategoryCounts = {};
  private readonly histograms = Object.fromEntries(HISTOGRAMS.map((name) => [name, new LatencyHistogram()])) as Record<
    HistogramName,
    LatencyHistogram
  >;

  static restore(persisted: unknown): Stats {
    const stats = new Stats();
    if (typeof persisted !== 'object' || persisted === null) return stats;
    const record = persisted as Record<string, unknown>;
    for (const name of COUNTERS) stats.counters[name] = nonNegative(record[name]);
    stats.sharedDay.restore(record.sharedDay, record.sharedBytesToday, 10);
    stats.sharedMonth.restore(record.sharedMonth, record.sharedBytesThisMonth, 7);
    stats.failedByCategory = categoryCounts(record.failedByCategory);
    stats.refusedByCategory = categoryCounts(record.refusedByCategory);
    const histograms =
      typeof record.histograms === 'object' && record.histograms !== null
        ? (record.histograms as Record<string, unknown>)
        : {};
    for (const name of HISTOGRAMS) {
      const counts = histograms[name];
      if (Array.isArray(counts)) stats.histograms[name] = new LatencyHistogram(counts as number[]);
    }
    return stats;
  }

  counter(name: CounterName): number {
    return this.counters[name];
  }

  count(name: CounterName, amount = 1): void {
    this.counters[name] += amount;
  }

  /** The queue's view of a request's life: this is where requester counters come from. */
  onQueueEvent(event: QueueEvent): void {
    switch (event.type) {
      case 'rejected':
        // Shown as "rejected", apart from failures: nothing was sent, and the page was told to retry.
        this.counters.rejected += 1;
        return;
      case 'dispatched':
        if (event.kind === 'retry') this.counters.retries += 1;
        return;
      case 'hedge':
        this.counters[event.won ? 'hedgesWon' : 'hedgesLost'] += 1;
        return;
      case 'peer_ejected':
        this.counters.ejections += 1;
        return;
      case 'finished': {
        const record = event.record;
        // A resume continues a page request counted on its own: count the resume, not a second request.
        if (record.resumeOf !== null) {
          if (record.ok) this.counters.resumes += 1;
          return;
        }
        if (record.ok) {
          this.counters.completed += 1;
          this.histograms.total.record(record.totalMs);
          if (record.queueWaitMs !== null) this.histograms.queueWait.record(record.queueWaitMs);
          if (record.ttfbMs !== null) this.histograms.ttfb.record(record.ttfbMs);
          if (record.transferMs !== null) this.histograms.transfer.record(record.transferMs);
          return;
        }
        const category = record.category ?? 'internal';
        // A request the page itself cancelled is counted under `cancelled`, not as a failure.
        if (category !== 'cancelled') this.counters.failed += 1;
        bump(this.failedByCategory, category);
        return;
      }
      default:
        return;
    }
  }

  /** Bytes an exit sent; `day` is the local date (YYYY-MM-DD), and a new day starts from zero. */
  shared(bytes: number, day: string): void {
    this.counters.sharedBytes += bytes;
    this.sharedDay.add(bytes, day);
    this.sharedMonth.add(bytes, day.slice(0, 7));
  }

  /** Bytes served in the month of `day` (YYYY-MM-DD); zero once the month has changed. */
  sharedThisMonth(day: string): number {
    return this.sharedMonth.in(day.slice(0, 7));
  }

  /** Bytes served on `day`; zero once the day has changed. */
  sharedToday(day: string): number {
    return this.sharedDay.in(day);
  }

  exitRefused(category: ErrorCategory): void {
    bump(this.refusedByCategory, category);
  }

  snapshot(gauges: StatsGauges): StatsSnapshot {
    return {
      ...gauges,
      ...this.counters,
      ...this.sharedPeriods(),
      failedByCategory: { ...this.failedByCategory },
      refusedByCategory: { ...this.refusedByCategory },
      latencyMs: percentiles(this.histograms.total),
      queueWaitMs: percentiles(this.histograms.queueWait),
      ttfbMs: percentiles(this.histograms.ttfb),
      transferMs: percentiles(this.histograms.transfer),
    };
  }

  private sharedPeriods(): Pick<
    PersistedStats,
    'sharedBytesToday' | 'sharedDay' | 'sharedBytesThisMonth' | 'sharedMonth'
  > {
    return {
      sharedBytesToday: this.sharedDay.bytes,
      sharedDay: this.sharedDay.period,
      sharedBytesThisMonth: this.sharedMonth.bytes,
      sharedMonth: this.sharedMonth.period,
    };
  }

  toJSON(): PersistedStats {
    return {
      ...this.counters,
      ...this.sharedPeriods(),
      failedByCategory: { ...this.failedByCategory },
      refusedByCategory: { ...this.refusedByCategory },
      histograms: Object.fromEntries(HISTOGRAMS.map((name) => [name, this.histograms[name].toJSON()])) as Record<
        HistogramName,
        number[]
      >,
    };
  }
}
