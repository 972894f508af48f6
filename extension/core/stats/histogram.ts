/**
 * Log-bucketed latency histogram: fixed memory (one counter per bucket, ~4% relative error),
 * mergeable and serialisable, so a restarted service worker can restore it from storage.
 */
const GROWTH = 1.04;
const MIN_MS = 0.1;
const BUCKETS = 512; // 0.1 ms · 1.04^511 ≈ 5e7 ms: covers every timeout we allow

export class LatencyHistogram {
  private readonly counts: number[];
  private total = 0;

  constructor(counts?: readonly number[]) {
    this.counts = new Array<number>(BUCKETS).fill(0);
    if (counts && counts.length === BUCKETS) {
      counts.forEach((count, index) => {
        const safe = Number.isFinite(count) && count > 0 ? Math.floor(count) : 0;
        this.counts[index] = safe;
        this.total += safe;
      });
    }
  }

  get count(): number {
    return this.total;
  }

  record(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    const index = ms <= MIN_MS ? 0 : Math.min(BUCKETS - 1, Math.ceil(Math.log(ms / MIN_MS) / Math.log(GROWTH)));
    this.counts[index] = (this.counts[index] ?? 0) + 1;
    this.total += 1;
  }

  /** The upper bound of the bucket holding the q-quantile (0 < q ≤ 1), or null when empty. */
  quantile(q: number): number | null {
    if (this.total === 0) return null;
    const rank = Math.max(1, Math.ceil(q * this.total));
    let seen = 0;
    for (let index = 0; index < BUCKETS; index += 1) {
      seen += this.counts[index] ?? 0;
      if (seen >= rank) return index === 0 ? MIN_MS : MIN_MS * GROWTH ** index;
    }
    return null;
  }

  toJSON(): number[] {
    return [...this.counts];
  }
}
