/**
 * Admission limits, pure (the clock is passed in): token buckets per connection and per IP, and
 * connection counts per IP. An IP's buckets are dropped when its last connection goes and its
 * buckets are full again, so memory follows the live set.
 */
export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.at = now;
  }

  take(now: number, count = 1): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.perSecond);
    this.at = now;
    if (this.tokens < count) return false;
    this.tokens -= count;
    return true;
  }

  full(now: number): boolean {
    return this.tokens + ((now - this.at) / 1000) * this.perSecond >= this.burst;
  }
}

export interface IpLimitOptions {
  maxConnectionsPerIp: number;
  connectsPerIpPerSecond: number;
  messagesPerIpPerSecond: number;
}

interface IpState {
  connections: number;
  connects: TokenBucket;
  messages: TokenBucket;
}

export type AdmitVerdict = { ok: true } | { ok: false; reason: 'ip_connection_cap' | 'ip_connect_rate' };

export class IpLimits {
  private readonly ips = new Map<string, IpState>();

  constructor(private readonly options: IpLimitOptions) {}

  private state(ip: string, now: number): IpState {
    let state = this.ips.get(ip);
    if (!state) {
      const { connectsPerIpPerSecond: connects, messagesPerIpPerSecond: messages } = this.options;
      state = {
        connections: 0,
        connects: new TokenBucket(connects, connects * 2, now),
        messages: new TokenBucket(messages, messages * 2, now),
      };
      this.ips.set(ip, state);
    }
    return state;
  }

  /** A new connection from `ip`: within its cap and its connect rate, or refused with why. */
  admit(ip: string, now: number): AdmitVerdict {
    const state = this.state(ip, now);
    if (state.connections >= this.options.maxConnectionsPerIp) return { ok: false, reason: 'ip_connection_cap' };
    if (!state.connects.take(now)) return { ok: false, reason: 'ip_connect_rate' };
    state.connections += 1;
    return { ok: true };
  }

  release(ip: string, now: number): void {
    const state = this.ips.get(ip);
    if (!state) return;
    state.connections = Math.max(0, state.connections - 1);
    this.sweep(ip, state, now);
  }

  /** One message from `ip`, across all its connections. */
  message(ip: string, now: number): boolean {
    return this.state(ip, now).messages.take(now);
  }

  private sweep(ip: string, state: IpState, now: number): void {
    if (state.connections === 0 && state.connects.full(now) && state.messages.full(now)) this.ips.delete(ip);
  }

  /** Drops idle IPs whose buckets refilled (called now and then). */
  sweepAll(now: number): void {
    for (const [ip, state] of this.ips) this.sweep(ip, state, now);
  }

  get trackedIps(): number {
    return this.ips.size;
  }
}
