import type { Clock, TimerHandle } from '../clock';
import { PeerlaneError, toPeerlaneError, type ErrorCategory } from '../errors';

/**
 * Request queue v1: bounded FIFO admission, per-peer concurrency, least-outstanding peer choice,
 * an overall timeout per request and cancellation by AbortSignal. Pure: time and the transport are
 * injected, so every ordering and timing rule is unit-tested with a fake clock.
 */
export interface QueueOptions {
  /** Requests waiting for a peer; one more is rejected at once with `queue_full`. */
  maxQueued: number;
  /** Requests one peer may carry at a time. */
  perPeerConcurrency: number;
  /** Submission to end of response body. */
  timeoutMs: number;
}

export const DEFAULT_QUEUE_OPTIONS: QueueOptions = { maxQueued: 256, perPeerConcurrency: 6, timeoutMs: 60_000 };

/** What the executor hands back once a peer has answered: the value, and when the peer is free again. */
export interface Execution<R> {
  result: R;
  /** Settles when the whole response has been carried (or failed); the peer slot is held until then. */
  settled: Promise<void>;
}

export type Executor<T, R> = (task: T, peerId: string, signal: AbortSignal) => Promise<Execution<R>>;

export type QueueEvent =
  | { type: 'queued'; id: number }
  | { type: 'dispatched'; id: number; peerId: string; queueWaitMs: number }
  | { type: 'completed'; id: number; peerId: string; totalMs: number }
  | { type: 'failed'; id: number; category: ErrorCategory; peerId: string | null }
  | { type: 'no_peers'; id: number };

interface Entry<T, R> {
  id: number;
  task: T;
  submittedAt: number;
  controller: AbortController;
  timer: TimerHandle;
  peerId: string | null;
  finished: boolean;
  resolve: (value: R) => void;
  reject: (error: PeerlaneError) => void;
  detachSignal: () => void;
  /** Frees the peer slot; idempotent. Set when the request is dispatched. */
  release: () => void;
}

export class RequestQueue<T, R> {
  private readonly waiting: Entry<T, R>[] = [];
  private readonly outstanding = new Map<string, number>();
  private readonly listeners = new Set<(event: QueueEvent) => void>();
  private nextId = 1;
  private running = 0;

  constructor(
    private readonly executor: Executor<T, R>,
    private readonly clock: Clock,
    private readonly options: QueueOptions = DEFAULT_QUEUE_OPTIONS,
  ) {}

  get queued(): number {
    return this.waiting.length;
  }

  get inflight(): number {
    return this.running;
  }

  get peerCount(): number {
    return this.outstanding.size;
  }

  subscribe(listener: (event: QueueEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  addPeer(peerId: string): void {
    if (!this.outstanding.has(peerId)) this.outstanding.set(peerId, 0);
    this.pump();
  }

  /** Stops choosing the peer; requests it carries fail through their executor (peer_lost). */
  removePeer(peerId: string): void {
    this.outstanding.delete(peerId);
  }

  submit(task: T, signal?: AbortSignal): Promise<R> {
    if (this.waiting.length >= this.options.maxQueued) {
      const error = new PeerlaneError('queue_full', `queue full: ${this.waiting.length} requests already waiting`);
      this.emit({ type: 'failed', id: 0, category: 'queue_full', peerId: null });
      return Promise.reject(error);
    }
    if (signal?.aborted) return Promise.reject(new PeerlaneError('cancelled', 'request was cancelled before it was queued'));
    return new Promise<R>((resolve, reject) => {
      const entry: Entry<T, R> = {
        id: this.nextId++,
        task,
        submittedAt: this.clock.now(),
        controller: new AbortController(),
        timer: undefined,
        peerId: null,
        finished: false,
        resolve,
        reject,
        detachSignal: () => undefined,
        release: () => undefined,
      };
      entry.timer = this.clock.setTimeout(() => this.onTimeout(entry), this.options.timeoutMs);
      if (signal) {
        const onAbort = (): void => this.fail(entry, new PeerlaneError('cancelled', 'request was cancelled'));
        signal.addEventListener('abort', onAbort, { once: true });
        entry.detachSignal = () => signal.removeEventListener('abort', onAbort);
      }
      this.waiting.push(entry);
      this.emit({ type: 'queued', id: entry.id });
      if (this.outstanding.size === 0) this.emit({ type: 'no_peers', id: entry.id });
      this.pump();
    });
  }

  private onTimeout(entry: Entry<T, R>): void {
    const noPeers = entry.peerId === null && this.outstanding.size === 0;
    this.fail(
      entry,
      noPeers
        ? new PeerlaneError('no_peers', `no exit peer became available within ${this.options.timeoutMs} ms`)
        : new PeerlaneError('timeout', `request did not finish within ${this.options.timeoutMs} ms`),
    );
  }

  /** First outcome wins: later ones (a late response after a timeout) are ignored. */
  private fail(entry: Entry<T, R>, error: PeerlaneError): void {
    if (entry.finished) return;
    entry.finished = true;
    this.clock.clearTimeout(entry.timer);
    entry.detachSignal();
    const index = this.waiting.indexOf(entry);
    if (index >= 0) this.waiting.splice(index, 1);
    entry.controller.abort(error);
    this.emit({ type: 'failed', id: entry.id, category: error.category, peerId: entry.peerId });
    entry.reject(error);
    // The abort above tells the transport to cancel; the slot is free now, whatever the transport does.
    entry.release();
  }

  private pickPeer(): string | null {
    let best: string | null = null;
    let bestLoad = Infinity;
    for (const [peerId, load] of this.outstanding) {
      if (load < this.options.perPeerConcurrency && load < bestLoad) {
        best = peerId;
        bestLoad = load;
      }
    }
    return best;
  }

  private pump(): void {
    for (;;) {
      const entry = this.waiting[0];
      if (!entry) return;
      const peerId = this.pickPeer();
      if (peerId === null) return;
      this.waiting.shift();
      this.start(entry, peerId);
    }
  }

  private start(entry: Entry<T, R>, peerId: string): void {
    entry.peerId = peerId;
    this.outstanding.set(peerId, (this.outstanding.get(peerId) ?? 0) + 1);
    this.running += 1;
    this.emit({ type: 'dispatched', id: entry.id, peerId, queueWaitMs: this.clock.now() - entry.submittedAt });
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.running -= 1;
      const load = this.outstanding.get(peerId);
      if (load !== undefined) this.outstanding.set(peerId, Math.max(0, load - 1));
      this.pump();
    };
    entry.release = release;
    this.executor(entry.task, peerId, entry.controller.signal).then(
      (execution) => {
        if (entry.finished) {
          release();
          return;
        }
        entry.resolve(execution.result);
        execution.settled.then(
          () => {
            if (entry.finished) return release();
            entry.finished = true;
            this.clock.clearTimeout(entry.timer);
            entry.detachSignal();
            this.emit({ type: 'completed', id: entry.id, peerId, totalMs: this.clock.now() - entry.submittedAt });
            release();
          },
          (error: unknown) => {
            this.fail(entry, toPeerlaneError(error, 'peer_lost'));
            release();
          },
        );
      },
      (error: unknown) => {
        this.fail(entry, toPeerlaneError(error, 'peer_lost'));
        release();
      },
    );
  }

  private emit(event: QueueEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}
