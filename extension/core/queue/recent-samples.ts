/**
 * The last `capacity` samples in a ring, for a quantile of *recent* behaviour (the hedge delay follows
 * the recent p95 time to first byte). Fixed memory; the sorted copy is rebuilt at most every 16 samples.
 */
export class RecentSamples {
  private readonly ring: Float64Array;
  private count = 0;
  private next = 0;
  private sorted: Float64Array | null = null;
  private sinceSort = 0;

  constructor(capacity = 256) {
    this.ring = new Float64Array(capacity);
  }

  get size(): number {
    return this.count;
  }

  record(value: number): void {
    this.ring[this.next] = value;
    this.next = (this.next + 1) % this.ring.length;
    this.count = Math.min(this.count + 1, this.ring.length);
    this.sinceSort += 1;
  }

  quantile(q: number): number | null {
    if (this.count === 0) return null;
    if (!this.sorted || this.sinceSort >= 16 || this.sorted.length !== this.count) {
      this.sorted = this.ring.slice(0, this.count).sort();
      this.sinceSort = 0;
    }
    return this.sorted[Math.min(this.count - 1, Math.floor(q * this.count))]!;
  }
}
