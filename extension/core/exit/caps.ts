import type { Clock } from '../clock';
import { PeerlaneError, toPeerlaneError } from '../errors';

/**
 * What a sharer lends, capped: response size, concurrent requests, bandwidth (a token bucket shared
 * by every stream of this exit) and bytes per day. Every cap the requester runs into is a typed
 * `exit_cap_*` error. Pure: the clock is injected, so rates are tested with a fake one.
 */
export interface ExitCapsOptions {
  maxResponseBytes: number;
  maxConcurrent: number;
  bytesPerSecond: number;
  dailyBytes: number;
}

export const MB = 1_000_000;
export const DEFAULT_EXIT_CAPS: ExitCapsOptions = { maxResponseBytes: 25 * MB, maxConcurrent: 6, bytesPerSecond: 2 * MB, dailyBytes: 1000 * MB };

/**
 * Tokens are bytes, refilled at `rate()` per second up to one second's worth. A send may take the
 * bucket into debt and then waits the debt off, so the long-run rate is exact whatever the chunk
 * sizes, and concurrent streams queue behind each other's debt.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly clock: Clock,
    private readonly rate: () => number,
  ) {
    this.tokens = rate();
    this.last = clock.now();
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.rate(), this.tokens + ((now - this.last) / 1000) * this.rate());
    this.last = now;
  }

  /** Bytes sendable right now (negative: in debt). */
  get available(): number {
    this.refill();
    return this.tokens;
  }

  /** Takes `bytes` and resolves once the bucket is out of debt; rejects if `signal` aborts first. */
  async consume(bytes: number, signal: AbortSignal): Promise<void> {
    this.refill();
    this.tokens -= bytes;
    if (this.tokens >= 0) return;
    const waitMs = (-this.tokens / this.rate()) * 1000;
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.clock.clearTimeout(timer);
        reject(toPeerlaneError(signal.reason, 'cancelled'));
      };
      const timer = this.clock.setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      }, waitMs);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }
}

export class ExitCaps {
  readonly bucket: TokenBucket;
  private active = 0;

  constructor(
    clock: Clock,
    private readonly options: () => ExitCapsOptions,
    /** Bytes this exit already served today (kept by the stats, which know the day). */
    private readonly usedToday: () => number,
  ) {
    this.bucket = new TokenBucket(clock, () => this.options().bytesPerSecond);
  }

  get inUse(): number {
    return this.active;
  }

  /** Takes a request slot, or says which cap refuses it. Call `release` once when it ends. */
  admit(): PeerlaneError | null {
    const caps = this.options();
    if (this.usedToday() >= caps.dailyBytes) return new PeerlaneError('exit_cap_quota', `this exit has shared its daily quota (${caps.dailyBytes} bytes)`);
    if (this.active >= caps.maxConcurrent) return new PeerlaneError('exit_cap_concurrency', `this exit is carrying its maximum of ${caps.maxConcurrent} requests`);
    this.active += 1;
    return null;
  }

  release(): void {
    this.active = Math.max(0, this.active - 1);
  }

  /** Refuses before any body byte when the declared length is already over the cap. */
  checkDeclaredLength(contentLength: number | null): PeerlaneError | null {
    const max = this.options().maxResponseBytes;
    return contentLength !== null && contentLength > max ? sizeError(max) : null;
  }

  /** Before sending `bytes` more of a body that has sent `sent`: the size and daily caps, then the rate. */
  async beforeSend(sent: number, bytes: number, signal: AbortSignal): Promise<void> {
    const caps = this.options();
    if (sent + bytes > caps.maxResponseBytes) throw sizeError(caps.maxResponseBytes);
    if (this.usedToday() + bytes > caps.dailyBytes) throw new PeerlaneError('exit_cap_quota', `this exit reached its daily quota (${caps.dailyBytes} bytes) mid-response`);
    await this.bucket.consume(bytes, signal);
  }
}

function sizeError(max: number): PeerlaneError {
  return new PeerlaneError('exit_cap_size', `the response is larger than this exit's cap of ${max} bytes`);
}
