import type { Clock } from '../clock';
import { PeerlaneError } from '../errors';
import { FairBandwidth } from './fair-share';

/**
 * What a sharer lends, capped: response size, concurrent requests (shared fairly between
 * requesters), bandwidth (deficit round robin between requesters, see fair-share.ts) and bytes per day. Every cap the requester runs into is a typed
 * `exit_cap_*` error. Pure: the clock is injected, so rates are tested with a fake one.
 */
export interface ExitCapsOptions {
  maxResponseBytes: number;
  maxConcurrent: number;
  bytesPerSecond: number;
  dailyBytes: number;
  monthlyBytes: number;
}

export const MB = 1_000_000;
export const DEFAULT_EXIT_CAPS: ExitCapsOptions = {
  maxResponseBytes: 25 * MB,
  maxConcurrent: 6,
  bytesPerSecond: 2 * MB,
  dailyBytes: 1000 * MB,
  monthlyBytes: 20_000 * MB,
};

/** A requester refused within this time still counts as wanting a share of the slots. */
const WANTING_MS = 5_000;

export class ExitCaps {
  readonly bandwidth: FairBandwidth;
  private readonly held = new Map<string, number>();
  private readonly wanting = new Map<string, number>();
  private active = 0;

  constructor(
    private readonly clock: Clock,
    private readonly options: () => ExitCapsOptions,
    /** Bytes this exit already served today (kept by the stats, which know the day). */
    private readonly usedToday: () => number,
    /** And this calendar month. */
    private readonly usedThisMonth: () => number = () => 0,
  ) {
    this.bandwidth = new FairBandwidth(clock, () => this.options().bytesPerSecond);
  }

  get inUse(): number {
    return this.active;
  }

  /**
   * Takes a request slot for `requester`, or says which cap refuses it. When several requesters
   * want slots (holding some, or refused lately), each may hold at most an equal share, so one busy
   * requester cannot keep the others out. Call `release` once when the request ends.
   */
  admit(requester: string): PeerlaneError | null {
    const caps = this.options();
    const now = this.clock.now();
    // Not one byte more fits: the quota is used up.
    const quota = this.quotaPassed(caps, 1);
    if (quota)
      return new PeerlaneError(
        'exit_cap_quota',
        `this exit has shared its ${quota.period} quota (${quota.limit} bytes)`,
      );
    for (const [id, at] of this.wanting) if (now - at > WANTING_MS) this.wanting.delete(id);
    const contenders = new Set([...this.held.keys(), ...this.wanting.keys(), requester]).size;
    const share = Math.ceil(caps.maxConcurrent / contenders);
    const mine = this.held.get(requester) ?? 0;
    if (this.active >= caps.maxConcurrent || mine >= share) {
      this.wanting.set(requester, now);
      return new PeerlaneError(
        'exit_cap_concurrency',
        this.active >= caps.maxConcurrent
          ? `this exit is carrying its maximum of ${caps.maxConcurrent} requests`
          : `this requester already has its fair share (${share}) of this exit's ${caps.maxConcurrent} requests`,
      );
    }
    this.wanting.delete(requester);
    this.held.set(requester, mine + 1);
    this.active += 1;
    return null;
  }

  release(requester: string): void {
    const mine = this.held.get(requester) ?? 0;
    if (mine <= 1) this.held.delete(requester);
    else this.held.set(requester, mine - 1);
    this.active = Math.max(0, this.active - 1);
  }

  /** Refuses before any body byte when the declared length is already over the cap. */
  checkDeclaredLength(contentLength: number | null): PeerlaneError | null {
    const max = this.options().maxResponseBytes;
    return contentLength !== null && contentLength > max ? sizeError(max) : null;
  }

  /** Before `requester`'s body sends `bytes` more after `sent`: the size cap and the quotas, then its fair turn at the rate. */
  async beforeSend(requester: string, sent: number, bytes: number, signal: AbortSignal): Promise<void> {
    const caps = this.options();
    if (sent + bytes > caps.maxResponseBytes) throw sizeError(caps.maxResponseBytes);
    const quota = this.quotaPassed(caps, bytes);
    if (quota)
      throw new PeerlaneError(
        'exit_cap_quota',
        `this exit reached its ${quota.period} quota (${quota.limit} bytes) mid-response`,
      );
    await this.bandwidth.send(requester, bytes, signal);
  }

  /** The quota that `bytes` more would pass, the day's before the month's; null when both have room. */
  private quotaPassed(caps: ExitCapsOptions, bytes: number): { period: 'daily' | 'monthly'; limit: number } | null {
    if (this.usedToday() + bytes > caps.dailyBytes) return { period: 'daily', limit: caps.dailyBytes };
    if (this.usedThisMonth() + bytes > caps.monthlyBytes) return { period: 'monthly', limit: caps.monthlyBytes };
    return null;
  }
}

function sizeError(max: number): PeerlaneError {
  return new PeerlaneError('exit_cap_size', `the response is larger than this exit's cap of ${max} bytes`);
}
