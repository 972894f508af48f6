import type { Clock, TimerHandle } from '../clock';
import { PeerlaneError, toPeerlaneError } from '../errors';

/**
 * Bandwidth shared fairly between requesters: deficit round robin over per-requester queues of
 * pending sends, paced by a byte rate. A requester with six streams gets the same share as one with
 * a single stream when both are waiting; an idle requester's share goes to the others. Pure: the
 * clock is injected, so shares and the rate are tested with a fake one.
 */
export const DRR_QUANTUM_BYTES = 64 * 1024;
const GATHER_MS = 1;

interface PendingSend {
  bytes: number;
  resolve: () => void;
  reject: (error: PeerlaneError) => void;
  signal: AbortSignal;
  onAbort: () => void;
}

interface RequesterQueue {
  id: string;
  sends: PendingSend[];
  deficit: number;
}

export class FairBandwidth {
  private readonly queues = new Map<string, RequesterQueue>();
  /** Round-robin order of requesters with something waiting. */
  private ring: RequesterQueue[] = [];
  private cursor = 0;
  private tokens: number;
  private last: number;
  private timer: TimerHandle | null = null;
  /** Granted sends waiting for the debt they made to be paid. */
  private readonly paying: PendingSend[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly rate: () => number,
  ) {
    this.tokens = rate();
    this.last = clock.now();
  }

  /** Resolves when `requester` may send `bytes`; rejects if `signal` aborts first. */
  send(requester: string, bytes: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted) return Promise.reject(toPeerlaneError(signal.reason, 'cancelled'));
    return new Promise<void>((resolve, reject) => {
      let queue = this.queues.get(requester);
      if (!queue) {
        queue = { id: requester, sends: [], deficit: 0 };
        this.queues.set(requester, queue);
      }
      const owner = queue;
      const pending: PendingSend = {
        bytes,
        resolve,
        reject,
        signal,
        onAbort: () => {
          const index = owner.sends.indexOf(pending);
          if (index >= 0) owner.sends.splice(index, 1);
          const paying = this.paying.indexOf(pending);
          if (paying >= 0) this.paying.splice(paying, 1);
          reject(toPeerlaneError(signal.reason, 'cancelled'));
          this.pump();
        },
      };
      signal.addEventListener('abort', pending.onAbort, { once: true });
      if (owner.sends.length === 0 && !this.ring.includes(owner)) this.ring.push(owner);
      owner.sends.push(pending);
      this.pump();
    });
  }

  private grant(send: PendingSend): void {
    send.signal.removeEventListener('abort', send.onAbort);
    send.resolve();
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.rate(), this.tokens + ((now - this.last) / 1000) * this.rate());
    this.last = now;
  }

  /** Grants sends while the bucket is out of debt, one DRR turn at a time; then sleeps off the debt. */
  private pump(): void {
    if (this.timer !== null) return;
    this.refill();
    while (this.tokens >= 0 && this.ring.length > 0) {
      const queue = this.ring[this.cursor]!;
      queue.deficit += DRR_QUANTUM_BYTES;
      while (queue.sends.length > 0 && queue.sends[0]!.bytes <= queue.deficit && this.tokens >= 0) {
        const send = queue.sends.shift()!;
        queue.deficit -= send.bytes;
        this.tokens -= send.bytes;
        // Pay, then send: a send that puts the bucket in debt goes once the debt is paid, so the
        // last chunk of a transfer is paced like the others.
        if (this.tokens >= 0) this.grant(send);
        else this.paying.push(send);
      }
      if (queue.sends.length === 0) {
        // An empty queue keeps no credit: DRR gives an idle requester's share to the others.
        queue.deficit = 0;
        this.ring.splice(this.cursor, 1);
        this.queues.delete(queue.id);
      } else this.cursor += 1;
      // Wrap now, not at the next turn: a requester that comes back is appended at the tail and
      // must wait for those already in the ring, not take the turn the cursor left at the end.
      if (this.cursor >= this.ring.length) this.cursor = 0;
    }
    if (this.tokens < 0 && (this.ring.length > 0 || this.paying.length > 0)) {
      this.timer = this.clock.setTimeout(
        () => {
          const paid = this.paying.splice(0);
          for (const send of paid) this.grant(send);
          // Let the streams just granted queue their next send before the next turn is chosen:
          // otherwise a requester with one stream always looks idle at decision time.
          this.timer =
            paid.length > 0
              ? this.clock.setTimeout(() => {
                  this.timer = null;
                  this.pump();
                }, GATHER_MS)
              : null;
          if (this.timer === null) this.pump();
        },
        Math.max(1, Math.ceil((-this.tokens / this.rate()) * 1000)),
      ); // whole ms, at least one: a floating-point crumb of debt must not spin the clock
    }
  }

  /** Bytes sendable right now (negative: in debt). */
  get available(): number {
    this.refill();
    return this.tokens;
  }
}
