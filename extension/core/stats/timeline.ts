/**
 * The last minute, one sample per second, for the popup's sparklines: queue depth, in flight, and
 * bytes moved in each role during that second. Fixed memory; samples are plain numbers so the
 * timeline crosses the popup Port as JSON.
 */
export const TIMELINE_SECONDS = 60;

export interface TimelineSample {
  /** Epoch ms at the end of the second. */
  at: number;
  queued: number;
  inflight: number;
  bytesInPerSec: number;
  bytesSharedPerSec: number;
}

export class Timeline {
  private readonly samples: TimelineSample[] = [];
  private lastBytesIn: number | null = null;
  private lastBytesShared: number | null = null;

  /** `bytesIn` and `bytesShared` are running totals; the timeline keeps per-second differences. */
  record(at: number, gauges: { queued: number; inflight: number; bytesIn: number; bytesShared: number }): void {
    const bytesInPerSec = this.lastBytesIn === null ? 0 : Math.max(0, gauges.bytesIn - this.lastBytesIn);
    const bytesSharedPerSec =
      this.lastBytesShared === null ? 0 : Math.max(0, gauges.bytesShared - this.lastBytesShared);
    this.lastBytesIn = gauges.bytesIn;
    this.lastBytesShared = gauges.bytesShared;
    this.samples.push({ at, queued: gauges.queued, inflight: gauges.inflight, bytesInPerSec, bytesSharedPerSec });
    if (this.samples.length > TIMELINE_SECONDS) this.samples.splice(0, this.samples.length - TIMELINE_SECONDS);
  }

  /** Oldest first. */
  toJSON(): TimelineSample[] {
    return this.samples.map((sample) => ({ ...sample }));
  }
}
