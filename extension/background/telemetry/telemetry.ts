import type { ErrorCategory } from '../../core/errors';
import type { QueueEvent } from '../../core/queue/request-queue';
import { RequestLog, type RequestLogEntry } from '../../core/stats/request-log';
import { localDay, Stats, type CounterName, type StatsGauges, type StatsSnapshot } from '../../core/stats/stats';
import { Timeline } from '../../core/stats/timeline';
import { Changes } from '../changes';
import type { BackgroundPlatform } from '../platform/platform';

/**
 * Telemetry: counters and histograms (`Stats`), the request log and the last minute's timeline, and
 * their persistence. Counters live in storage.local (they survive everything); the log in
 * storage.session (it survives a service-worker restart, not a browser restart). Saves are throttled,
 * and each is one JSON string: Chrome converts a stored object to its own values field by field, and
 * the 200-entry log as objects cost the worker about 12 ms of CPU per save (`npm run profile:tunnel --
 * small`, the "setAccessLevel" native frame), the same log as one string well under 1 ms.
 */
const STATS_STORAGE_KEY = 'stats';
const LOG_STORAGE_KEY = 'requestLog';
const PERSIST_INTERVAL_MS = 250;
const TIMELINE_SAMPLE_MS = 1_000;

export class Telemetry {
  private stats = new Stats();
  private log = new RequestLog();
  private readonly timeline = new Timeline();
  private persistTimer: unknown = null;
  readonly changes = new Changes();
  readonly ready: Promise<void>;

  constructor(
    private readonly platform: BackgroundPlatform,
    gauges: () => Pick<StatsGauges, 'queued' | 'inflight'>,
  ) {
    this.ready = this.restore();
    platform.every(TIMELINE_SAMPLE_MS, () => {
      this.timeline.record(platform.now(), {
        ...gauges(),
        bytesIn: this.stats.counter('bytesIn'),
        bytesShared: this.stats.counter('sharedBytes'),
      });
      this.changes.emit();
    });
  }

  private async restore(): Promise<void> {
    const [stored, session] = await Promise.all([
      this.platform.local.get([STATS_STORAGE_KEY]),
      (this.platform.session?.get([LOG_STORAGE_KEY]) ?? Promise.resolve<Record<string, unknown>>({})).catch(
        (): Record<string, unknown> => ({}),
      ),
    ]);
    this.stats = Stats.restore(fromStoredJson(stored[STATS_STORAGE_KEY]));
    this.log = RequestLog.restore(fromStoredJson(session[LOG_STORAGE_KEY]));
    this.count('backgroundStarts');
  }

  count(name: CounterName, amount = 1): void {
    this.stats.count(name, amount);
    this.moved();
  }

  /**
   * Body bytes a routed response brought in: counted on every chunk, so only saved, not announced
   * (the timeline's once-a-second sample shows them).
   */
  received(bytes: number): void {
    this.stats.count('bytesIn', bytes);
    this.persistSoon();
  }

  onQueueEvent(event: QueueEvent): void {
    this.stats.onQueueEvent(event);
    this.moved();
  }

  /** Bytes this exit sent, counted towards today's share. */
  shared(bytes: number): void {
    this.stats.shared(bytes, localDay());
    this.moved();
  }

  sharedThisMonth(): number {
    return this.stats.sharedThisMonth(localDay());
  }

  sharedToday(): number {
    return this.stats.sharedToday(localDay());
  }

  exitRefused(category: ErrorCategory): void {
    this.stats.exitRefused(category);
    this.moved();
  }

  logRequest(entry: RequestLogEntry): void {
    this.log.add(entry);
    this.moved();
  }

  snapshot(gauges: StatsGauges): StatsSnapshot {
    return this.stats.snapshot(gauges);
  }

  latestLog(): RequestLogEntry[] {
    return this.log.latest();
  }

  timelineSamples(): ReturnType<Timeline['toJSON']> {
    return this.timeline.toJSON();
  }

  private moved(): void {
    this.changes.emit();
    this.persistSoon();
  }

  private persistSoon(): void {
    if (this.persistTimer !== null) return;
    this.persistTimer = this.platform.clock.setTimeout(() => {
      this.persistTimer = null;
      void this.platform.local.set({ [STATS_STORAGE_KEY]: JSON.stringify(this.stats) });
      void this.platform.session?.set({ [LOG_STORAGE_KEY]: JSON.stringify(this.log) }).catch(() => undefined);
    }, PERSIST_INTERVAL_MS);
  }
}

/** A saved value: a JSON string (this version), or the object an earlier version stored; anything else restores as nothing. */
function fromStoredJson(stored: unknown): unknown {
  if (typeof stored !== 'string') return stored;
  try {
    return JSON.parse(stored) as unknown;
  } catch {
    return undefined;
  }
}
