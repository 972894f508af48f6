import { newCorrelationId } from '../correlation-id';
import type { Clock, TimerHandle } from '../clock';
import { isRetryable, PeerlaneError, toPeerlaneError, type ErrorCategory } from '../errors';
import {
  DEFAULT_QUEUE_OPTIONS,
  lostRace,
  type AttemptContext,
  type AttemptKind,
  type Execution,
  type Executor,
  type QueueEvent,
  type QueueOptions,
  type SubmitOptions,
} from './queue-options';
import { PeerBalancer, type PeerStatsView } from './peer-balancer';
import { PriorityLanes, type LaneEntry, type Priority } from './priority-lanes';
import { RecentSamples } from './recent-samples';
import { fullJitterDelay, RetryBudget, type RetryBudgetOptions } from './retry-budget';

/**
 * One state machine, kept in one file: a request goes queued → dispatched (one or more attempts) →
 * streaming → finished, and every rule below moves it along that line.
 *
 * The request queue engine: admission with backpressure, priority lanes with aging, peer choice
 * (power of two choices on EWMA TTFB, ejection, warm-up), per-request and per-attempt timeouts,
 * retries with full-jitter backoff under a budget, hedging, and cancellation. Pure: clock, random
 * source and transport (the executor) are injected, so every rule is unit-tested with a fake clock.
 *
 * A request makes one or more *attempts*, each on one peer. An attempt ends at its response head
 * (the winner then streams until `settled`) or with an error. Only attempts that failed before a
 * head can be retried: bytes already handed to the caller cannot be taken back. Its options, and the
 * types callers and executors see, are in queue-options.ts.
 */
export * from './queue-options';

/**
 * One attempt on one peer, and the executor's view of it (so a dispatch allocates one object).
 * The AbortController is created on the first read of `signal`: it is costly, and it is only
 * needed by executors that can cancel.
 */
class Attempt implements AttemptContext {
  controller: AbortController | null = null;
  abortReason: PeerlaneError | null = null;
  timer: TimerHandle | undefined = undefined;
  live = true;
  released = false;

  constructor(
    readonly peerId: string,
    readonly kind: AttemptKind,
    readonly attempt: number,
    readonly correlationId: string,
    readonly startedAt: number,
  ) {}

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortReason) this.controller.abort(this.abortReason);
    }
    return this.controller.signal;
  }

  abort(reason: PeerlaneError): void {
    if (this.abortReason) return;
    this.abortReason = reason;
    this.controller?.abort(reason);
  }
}

const noop = (): void => undefined;

interface Entry<T, R> extends LaneEntry {
  id: number;
  correlationId: string;
  resumeOf: string | null;
  task: T;
  idempotent: boolean;
  hedgeable: boolean;
  sizeBytes: number;
  submittedAt: number;
  firstDispatchAt: number | null;
  headAt: number | null;
  state: 'waiting' | 'active' | 'backoff' | 'streaming' | 'done';
  attempts: Attempt[];
  attemptCount: number;
  /** Peers this request has been sent to; a handful at most, so an array beats a Set. */
  triedPeers: string[];
  winner: Attempt | null;
  hedged: boolean;
  hedgeWon: boolean | null;
  timer: TimerHandle | undefined;
  retryTimer: TimerHandle | null;
  hedgeTimer: TimerHandle | null;
  resolve: (value: R) => void;
  reject: (error: PeerlaneError) => void;
  detachSignal: () => void;
}

export class RequestQueue<T, R> {
  private readonly lanes: PriorityLanes<Entry<T, R>>;
  private readonly balancer: PeerBalancer;
  private readonly budget: RetryBudget;
  private readonly budgetOptions: RetryBudgetOptions;
  private readonly recentTtfb = new RecentSamples();
  private readonly listeners = new Set<(event: QueueEvent) => void>();
  private readonly options: QueueOptions;
  private nextId = 1;
  private active = 0;
  private runningAttempts = 0;
  private admittedBytes = 0;
  private pumping = false;
  private pumpAgain = false;
  /** Why no exit can be reached (setUnreachable), or null. */
  private unreachable: string | null = null;
  private wakeTimer: TimerHandle | null = null;
  private readonly captured: { resolve: (value: R) => void; reject: (error: PeerlaneError) => void } = {
    resolve: noop,
    reject: noop,
  };
  private readonly capture = (resolve: (value: R) => void, reject: (error: PeerlaneError) => void): void => {
    this.captured.resolve = resolve;
    this.captured.reject = reject;
  };

  constructor(
    private readonly executor: Executor<T, R>,
    private readonly clock: Clock,
    options: Partial<QueueOptions> = {},
    private readonly random: () => number = Math.random,
  ) {
    this.options = { ...DEFAULT_QUEUE_OPTIONS, ...options };
    this.lanes = new PriorityLanes(this.options.agingMs);
    this.balancer = new PeerBalancer(this.options, random);
    this.budgetOptions = {
      ratio: this.options.retryBudgetRatio,
      floor: this.options.retryBudgetFloor,
      windowMs: this.options.retryBudgetWindowMs,
    };
    this.budget = new RetryBudget(clock, this.budgetOptions);
  }

  /** Applies changed settings to waiting and future requests (requests in flight keep their timers). */
  configure(options: Partial<QueueOptions>): void {
    Object.assign(this.options, options);
    this.lanes.agingMs = this.options.agingMs;
    Object.assign(this.budgetOptions, { ratio: this.options.retryBudgetRatio, floor: this.options.retryBudgetFloor });
    this.pump();
  }

  /** Requests waiting for a peer (including retries waiting for their turn). */
  get queued(): number {
    return this.lanes.size;
  }

  queuedByPriority(): Record<Priority | 'retry', number> {
    return this.lanes.depth();
  }

  /** Requests dispatched and not finished (streaming, or between a failed attempt and its retry). */
  get inflight(): number {
    return this.active;
  }

  /** Attempts holding a peer slot right now. */
  get attemptsRunning(): number {
    return this.runningAttempts;
  }

  get bytesAdmitted(): number {
    return this.admittedBytes;
  }

  get peerCount(): number {
    return this.balancer.size;
  }

  /** Entries held by the lanes, live or awaiting lazy removal (for memory-bound tests). */
  get storedEntries(): number {
    return this.lanes.stored;
  }

  peers(): PeerStatsView[] {
    return this.balancer.view(this.clock.now());
  }

  /** The delay after which a slow attempt is hedged, or null while too few samples exist. */
  hedgeDelayMs(): number | null {
    if (this.recentTtfb.size < this.options.hedgeMinSamples) return null;
    return Math.max(this.options.hedgeMinDelayMs, this.recentTtfb.quantile(0.95) ?? 0);
  }

  subscribe(listener: (event: QueueEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  addPeer(peerId: string, capacity?: number): void {
    this.balancer.add(peerId, this.clock.now(), capacity);
    this.pump();
  }

  /**
   * Signaling says exits are online but none can reach this browser (no relay to cross both NATs):
   * while there is no peer, waiting requests fail at once with `reason` instead of after the request
   * timeout, and so do new ones, until a peer is added or the condition is lifted (null).
   */
  setUnreachable(reason: string | null): void {
    this.unreachable = reason;
    if (reason === null || this.balancer.size > 0) return;
    this.failWaiting(new PeerlaneError('no_peers', reason), this.clock.now());
  }

  /** Requests waiting for a peer fail with `error` (attempts under way are not touched). */
  private failWaiting(error: PeerlaneError, now: number): void {
    for (let entry = this.lanes.peek(now); entry; entry = this.lanes.peek(now)) {
      this.lanes.take(entry);
      this.finish(entry, error, false, now);
    }
  }

  /**
   * Every connected exit has paused sharing (its schedule, its quota, its person): waiting would
   * last until one resumes, so a request fails at once, as the exit itself would refuse it.
   */
  private allPausedError(): PeerlaneError {
    return new PeerlaneError('sharing_off', 'every exit this browser is connected to has paused sharing');
  }

  /** Stops choosing the peer; attempts it carries fail through their executor (peer_lost) and may retry. */
  removePeer(peerId: string): void {
    this.balancer.remove(peerId);
  }

  submit(task: T, options: SubmitOptions = {}): Promise<R> {
    const priority = options.priority ?? 'interactive';
    const sizeBytes = options.sizeBytes ?? 0;
    const full =
      this.lanes.size >= this.options.maxQueued
        ? `${this.lanes.size} requests already waiting`
        : this.admittedBytes + sizeBytes > this.options.maxQueuedBytes
          ? `${this.admittedBytes} request bytes already admitted`
          : null;
    if (full) {
      this.emit({ type: 'rejected', category: 'queue_full', priority });
      return Promise.reject(new PeerlaneError('queue_full', `queue full: ${full}`));
    }
    const signal = options.signal;
    if (signal?.aborted)
      return Promise.reject(new PeerlaneError('cancelled', 'request was cancelled before it was queued'));
    if (this.unreachable !== null && this.balancer.size === 0)
      return Promise.reject(new PeerlaneError('no_peers', this.unreachable));
    const id = this.nextId++;
    const now = this.clock.now();
    // The resolvers come out through `captured` rather than a closure over every local: submit()
    // is the hottest call in the engine.
    const promise = new Promise<R>(this.capture);
    const { resolve, reject } = this.captured;
    const entry: Entry<T, R> = {
      id,
      correlationId: options.correlationId ?? newCorrelationId(),
      resumeOf: options.resumeOf ?? null,
      task,
      priority,
      idempotent: options.idempotent ?? false,
      hedgeable: (options.hedgeable ?? false) && (options.idempotent ?? false),
      sizeBytes,
      submittedAt: now,
      enqueuedAt: now,
      waiting: false,
      inRetryLane: false,
      firstDispatchAt: null,
      headAt: null,
      state: 'waiting',
      attempts: [],
      attemptCount: 0,
      triedPeers: [],
      winner: null,
      hedged: false,
      hedgeWon: null,
      timer: undefined,
      retryTimer: null,
      hedgeTimer: null,
      resolve,
      reject,
      detachSignal: noop,
    };
    this.admittedBytes += sizeBytes;
    entry.timer = this.clock.setTimeout(() => this.onTimeout(entry), this.options.requestTimeoutMs);
    if (signal) {
      const onAbort = (): void => this.finish(entry, new PeerlaneError('cancelled', 'request was cancelled'));
      signal.addEventListener('abort', onAbort, { once: true });
      entry.detachSignal = () => signal.removeEventListener('abort', onAbort);
    }
    this.budget.recordRequest(now);
    this.lanes.push(entry, now);
    if (this.listeners.size > 0) {
      this.emit({ type: 'queued', id, priority });
      // None, or only paused ones: the host looks for more (a paused exit's request fails in pump).
      if (this.balancer.size === 0 || this.balancer.allPaused) this.emit({ type: 'no_peers', id });
    }
    this.pump(now);
    return promise;
  }

  private onTimeout(entry: Entry<T, R>): void {
    const neverSent = entry.firstDispatchAt === null && this.balancer.size === 0;
    this.finish(
      entry,
      neverSent
        ? new PeerlaneError('no_peers', `no exit peer became available within ${this.options.requestTimeoutMs} ms`)
        : new PeerlaneError('timeout', `no response within ${this.options.requestTimeoutMs} ms`),
    );
  }

  /** A pump() call made while this one ran (a release inside a dispatch) asks for one more round. */
  private pumpRequestedMeanwhile(): boolean {
    return this.pumpAgain;
  }

  /** Dispatches waiting work while peers have credit. `known` saves a clock read when the caller has one. */
  private pump(known?: number): void {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    let first = true;
    try {
      do {
        this.pumpAgain = false;
        const now = first && known !== undefined ? known : this.clock.now();
        first = false;
        for (;;) {
          // Most calls come from a release while work waits and every slot is taken: stay cheap then.
          if (!this.balancer.hasCapacity(now)) {
            if (this.lanes.size > 0 && this.balancer.allPaused) this.failWaiting(this.allPausedError(), now);
            else if (this.lanes.size > 0) this.wakeWhenPeerReturns(now);
            break;
          }
          const entry = this.lanes.peek(now);
          if (!entry) break;
          const peerId = this.balancer.pick(now, entry.triedPeers);
          if (peerId === null) {
            this.wakeWhenPeerReturns(now);
            break;
          }
          this.lanes.take(entry);
          this.startAttempt(entry, peerId, entry.attemptCount === 0 ? 'first' : 'retry', now);
        }
      } while (this.pumpRequestedMeanwhile());
    } finally {
      this.pumping = false;
    }
  }

  /** Work is waiting and every peer is full or ejected: look again when the first ejection ends. */
  private wakeWhenPeerReturns(now: number): void {
    const next = this.balancer.nextReturn(now);
    if (next === null || this.wakeTimer !== null) return;
    this.wakeTimer = this.clock.setTimeout(() => {
      this.wakeTimer = null;
      this.pump();
    }, next - now);
  }

  private startAttempt(entry: Entry<T, R>, peerId: string, kind: AttemptKind, now = this.clock.now()): void {
    const attempt = new Attempt(peerId, kind, ++entry.attemptCount, entry.correlationId, now);
    entry.attempts.push(attempt);
    if (!entry.triedPeers.includes(peerId)) entry.triedPeers.push(peerId);
    if (entry.firstDispatchAt === null) {
      entry.firstDispatchAt = now;
      this.active += 1;
    }
    if (entry.state !== 'streaming') entry.state = 'active';
    this.balancer.acquire(peerId);
    this.runningAttempts += 1;
    if (this.listeners.size > 0)
      this.emit({ type: 'dispatched', id: entry.id, peerId, kind, attempt: attempt.attempt });
    attempt.timer = this.clock.setTimeout(() => {
      const error = new PeerlaneError(
        'attempt_timeout',
        `exit sent no response within ${this.options.attemptTimeoutMs} ms`,
      );
      this.onAttemptError(entry, attempt, error);
    }, this.options.attemptTimeoutMs);
    if (kind !== 'hedge') this.scheduleHedge(entry);
    let pending: Promise<Execution<R>>;
    try {
      pending = this.executor(entry.task, attempt);
    } catch (error) {
      pending = Promise.reject(error);
    }
    pending.then(
      (execution) => this.onHead(entry, attempt, execution),
      (error: unknown) => this.onAttemptError(entry, attempt, toPeerlaneError(error, 'peer_lost')),
    );
  }

  private scheduleHedge(entry: Entry<T, R>): void {
    if (!this.options.hedging || !entry.hedgeable || entry.hedged || entry.hedgeTimer !== null) return;
    if (entry.attemptCount >= this.options.maxAttempts) return;
    const delay = this.hedgeDelayMs();
    if (delay === null) return;
    entry.hedgeTimer = this.clock.setTimeout(() => {
      entry.hedgeTimer = null;
      this.maybeHedge(entry);
    }, delay);
  }

  private maybeHedge(entry: Entry<T, R>): void {
    if (entry.state !== 'active' || entry.attempts.length !== 1 || entry.attemptCount >= this.options.maxAttempts)
      return;
    const peerId = this.balancer.pick(this.clock.now(), entry.triedPeers);
    // A hedge only helps on another peer, and never waits for one.
    if (peerId === null || entry.triedPeers.includes(peerId)) return;
    if (!this.budget.tryWithdraw()) return;
    entry.hedged = true;
    this.startAttempt(entry, peerId, 'hedge');
  }

  private onHead(entry: Entry<T, R>, attempt: Attempt, execution: Execution<R>): void {
    if (!attempt.live || entry.state === 'done') {
      // Too late: lost a hedge race, timed out or cancelled. The aborted signal cancels the stream.
      this.endAttempt(entry, attempt);
      execution.settled.catch(() => undefined);
      return;
    }
    const now = this.clock.now();
    this.clock.clearTimeout(attempt.timer);
    // The request has its answer: from here the body is the executor's to bound (see requestTimeoutMs).
    this.clock.clearTimeout(entry.timer);
    entry.timer = undefined;
    entry.winner = attempt;
    entry.state = 'streaming';
    entry.headAt = now;
    const ttfb = now - attempt.startedAt;
    this.balancer.recordTtfb(attempt.peerId, ttfb);
    this.recentTtfb.record(ttfb);
    this.clearHedgeTimer(entry);
    if (entry.attempts.length > 1) {
      for (const other of [...entry.attempts]) {
        if (other === attempt) continue;
        other.abort(lostRace());
        this.endAttempt(entry, other);
      }
    }
    if (entry.hedged) {
      entry.hedgeWon = attempt.kind === 'hedge';
      this.emit({ type: 'hedge', id: entry.id, won: entry.hedgeWon });
    }
    entry.resolve(execution.result);
    execution.settled.then(
      () => {
        const done = this.clock.now();
        if (entry.state !== 'done') {
          this.balancer.recordSuccess(attempt.peerId, done);
          this.finish(entry, null, false, done);
        }
        this.endAttempt(entry, attempt, done);
      },
      (error: unknown) => {
        const typed = toPeerlaneError(error, 'peer_lost');
        if (entry.state !== 'done') this.noteFailure(attempt.peerId, typed.category);
        this.finish(entry, typed);
        this.endAttempt(entry, attempt);
      },
    );
  }

  private noteFailure(peerId: string, category: ErrorCategory): void {
    const now = this.clock.now();
    const ejectedUntil = this.balancer.recordFailure(peerId, category, now);
    if (ejectedUntil !== null) this.emit({ type: 'peer_ejected', peerId, untilMs: ejectedUntil });
  }

  private onAttemptError(entry: Entry<T, R>, attempt: Attempt, error: PeerlaneError): void {
    if (!attempt.live) return;
    attempt.abort(error);
    this.endAttempt(entry, attempt);
    if (entry.state === 'done') return;
    this.noteFailure(attempt.peerId, error.category);
    const emitFailed = (next: 'retry' | 'other_attempt' | 'give_up' | 'budget_exhausted'): void =>
      this.emit({ type: 'attempt_failed', id: entry.id, peerId: attempt.peerId, category: error.category, next });
    if (entry.attempts.length > 0) {
      emitFailed('other_attempt');
      return;
    }
    // An attempt that sent nothing (its peer cannot carry the request) is safe to try on a peer not yet tried, even a POST's.
    const elsewhere = error.unsent
      ? entry.triedPeers.length < this.balancer.size
      : entry.idempotent && isRetryable(error.category);
    const retryable = elsewhere && entry.attemptCount < this.options.maxAttempts;
    if (!retryable) {
      emitFailed('give_up');
      this.finish(entry, error);
      return;
    }
    if (!this.budget.tryWithdraw()) {
      emitFailed('budget_exhausted');
      this.finish(entry, error);
      return;
    }
    emitFailed('retry');
    this.clearHedgeTimer(entry);
    entry.state = 'backoff';
    const retries = entry.attemptCount - (entry.hedged ? 1 : 0);
    const delay = fullJitterDelay(retries, this.options.retryBaseMs, this.options.retryCapMs, this.random);
    entry.retryTimer = this.clock.setTimeout(() => {
      entry.retryTimer = null;
      if (entry.state !== 'backoff') return;
      entry.state = 'waiting';
      this.lanes.push(entry, this.clock.now(), true);
      this.pump();
    }, delay);
  }

  private clearHedgeTimer(entry: Entry<T, R>): void {
    if (entry.hedgeTimer === null) return;
    this.clock.clearTimeout(entry.hedgeTimer);
    entry.hedgeTimer = null;
  }

  /** The attempt no longer holds its peer slot; idempotent. */
  private endAttempt(entry: Entry<T, R>, attempt: Attempt, now?: number): void {
    attempt.live = false;
    this.clock.clearTimeout(attempt.timer);
    const index = entry.attempts.indexOf(attempt);
    if (index >= 0) entry.attempts.splice(index, 1);
    if (attempt.released) return;
    attempt.released = true;
    this.balancer.release(attempt.peerId);
    this.runningAttempts -= 1;
    this.pump(now);
  }

  /** First outcome wins: later ones (a late response after a timeout) are ignored. */
  /** `pump: false` when the caller releases a slot right after (and pumps then). */
  private finish(entry: Entry<T, R>, error: PeerlaneError | null, pump = true, now = this.clock.now()): void {
    if (entry.state === 'done') return;
    const wasDispatched = entry.firstDispatchAt !== null;
    entry.state = 'done';
    this.clock.clearTimeout(entry.timer);
    if (entry.retryTimer !== null) this.clock.clearTimeout(entry.retryTimer);
    this.clearHedgeTimer(entry);
    entry.detachSignal();
    this.lanes.remove(entry);
    this.admittedBytes -= entry.sizeBytes;
    if (wasDispatched) this.active -= 1;
    if (entry.attempts.length > 0 && !(entry.attempts.length === 1 && entry.attempts[0] === entry.winner && !error)) {
      for (const attempt of [...entry.attempts]) {
        if (attempt === entry.winner && !error) continue;
        attempt.abort(error ?? new PeerlaneError('cancelled', 'request finished'));
        this.endAttempt(entry, attempt, now);
      }
    }
    if (this.listeners.size > 0)
      this.emit({
        type: 'finished',
        record: {
          id: entry.id,
          correlationId: entry.correlationId,
          resumeOf: entry.resumeOf,
          priority: entry.priority,
          ok: error === null,
          category: error?.category ?? null,
          message: error?.message ?? null,
          peerId: entry.winner?.peerId ?? entry.attempts[0]?.peerId ?? entry.triedPeers.at(-1) ?? null,
          attempts: entry.attemptCount,
          hedged: entry.hedged,
          hedgeWon: entry.hedgeWon,
          queueWaitMs: entry.firstDispatchAt === null ? null : entry.firstDispatchAt - entry.submittedAt,
          ttfbMs: entry.headAt === null || entry.firstDispatchAt === null ? null : entry.headAt - entry.firstDispatchAt,
          transferMs: entry.headAt === null ? null : now - entry.headAt,
          totalMs: now - entry.submittedAt,
        },
      });
    if (error) entry.reject(error);
    if (pump) this.pump(now);
  }

  private emit(event: QueueEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}
