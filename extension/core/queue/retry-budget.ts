import type { Clock } from '../clock';

/**
 * Retry budget (as in Finagle and gRPC): retries and hedges may add at most `ratio` of the requests
 * seen in the last `windowMs`, plus a small `floor`, so a failing peer set cannot multiply load.
 * Memory is fixed: ten buckets that rotate with time.
 */
export interface RetryBudgetOptions {
  ratio: number;
  floor: number;
  windowMs: number;
}

const BUCKETS = 10;

export class RetryBudget {
  private readonly requests = new Array<number>(BUCKETS).fill(0);
  private readonly withdrawals = new Array<number>(BUCKETS).fill(0);
  private currentSlot = 0;

  constructor(
    private readonly clock: Clock,
    private readonly options: RetryBudgetOptions,
  ) {
    this.currentSlot = this.slotAt(clock.now());
  }

  private slotAt(time: number): number {
    return Math.floor(time / (this.options.windowMs / BUCKETS));
  }

  /** Clears the buckets that fell out of the window since the last call. */
  private rotate(now: number): number {
    const slot = this.slotAt(now);
    const stale = Math.min(BUCKETS, slot - this.currentSlot);
    for (let step = 1; step <= stale; step += 1) {
      const index = (this.currentSlot + step) % BUCKETS;
      this.requests[index] = 0;
      this.withdrawals[index] = 0;
    }
    if (slot > this.currentSlot) this.currentSlot = slot;
    return this.currentSlot % BUCKETS;
  }

  /** `now` from the caller's clock read: the queue already has one. */
  recordRequest(now = this.clock.now()): void {
    const index = this.rotate(now);
    this.requests[index] = (this.requests[index] ?? 0) + 1;
  }

  /** Takes one retry (or hedge) from the budget; false means the caller must not send it. */
  tryWithdraw(now = this.clock.now()): boolean {
    const index = this.rotate(now);
    const requests = this.requests.reduce((sum, count) => sum + count, 0);
    const spent = this.withdrawals.reduce((sum, count) => sum + count, 0);
    if (spent >= this.options.floor + this.options.ratio * requests) return false;
    this.withdrawals[index] = (this.withdrawals[index] ?? 0) + 1;
    return true;
  }
}

/** Exponential backoff with full jitter: uniform in [0, min(cap, base·2^(retry−1))). */
export function fullJitterDelay(retry: number, baseMs: number, capMs: number, random: () => number): number {
  const ceiling = Math.min(capMs, baseMs * 2 ** Math.max(0, retry - 1));
  return random() * ceiling;
}
