import { PeerlaneError, type ErrorCategory } from '../errors';
import type { BalancerOptions } from './peer-balancer';
import type { Priority } from './priority-lanes';

/**
 * The request queue's public face (request-queue.ts is the engine): its options with their defaults,
 * what a caller submits, what an executor receives and hands back, and the events and records the
 * stats subscribe to.
 */
export type { Priority } from './priority-lanes';
export { PRIORITIES } from './priority-lanes';

export interface QueueOptions extends BalancerOptions {
  /** Requests waiting for a peer; one more is rejected at once with `queue_full`. */
  maxQueued: number;
  /** Request body bytes admitted and not yet finished (waiting or in flight). */
  maxQueuedBytes: number;
  /**
   * Submission to the response head. The body has no deadline here (a long download that keeps
   * moving takes what it takes); the executor's reader fails a body that stalls (stallTimeoutMs).
   */
  requestTimeoutMs: number;
  /** Dispatch of one attempt to its response head (time to first byte). */
  attemptTimeoutMs: number;
  /** A waiting request older than this is served before newer higher-priority ones. */
  agingMs: number;
  /** Attempts per request, the first included (hedges included). */
  maxAttempts: number;
  retryBaseMs: number;
  retryCapMs: number;
  retryBudgetRatio: number;
  retryBudgetFloor: number;
  retryBudgetWindowMs: number;
  hedging: boolean;
  /** The hedge waits the recent p95 TTFB, never less than this. */
  hedgeMinDelayMs: number;
  /** TTFB samples needed before the p95 is trusted enough to hedge on. */
  hedgeMinSamples: number;
}

export const DEFAULT_QUEUE_OPTIONS: QueueOptions = {
  maxQueued: 256,
  maxQueuedBytes: 16 * 1024 * 1024,
  perPeerConcurrency: 6,
  requestTimeoutMs: 60_000,
  attemptTimeoutMs: 15_000,
  agingMs: 2_000,
  maxAttempts: 3,
  retryBaseMs: 100,
  retryCapMs: 2_000,
  retryBudgetRatio: 0.2,
  retryBudgetFloor: 10,
  retryBudgetWindowMs: 10_000,
  hedging: true,
  hedgeMinDelayMs: 50,
  hedgeMinSamples: 10,
  ewmaAlpha: 0.3,
  initialTtfbMs: 200,
  ejectAfterFailures: 3,
  ejectBaseMs: 5_000,
  ejectMaxMs: 120_000,
  maxEjectedFraction: 0.5,
  warmupMs: 10_000,
};

/** What the executor hands back once a peer has answered: the value, and when the peer is free again. */
export interface Execution<R> {
  result: R;
  /** Settles when the whole response has been carried (or failed); the peer slot is held until then. */
  settled: Promise<void>;
}

export type AttemptKind = 'first' | 'retry' | 'hedge';

const LOST_RACE = 'another peer answered first';
/** Why an attempt that lost a hedge race is aborted: its executor may keep its answer for a check (background/requester/exit-checks.ts). */
export function lostRace(): PeerlaneError {
  return new PeerlaneError('cancelled', LOST_RACE);
}
export function isLostRace(reason: unknown): boolean {
  return reason instanceof PeerlaneError && reason.category === 'cancelled' && reason.message === LOST_RACE;
}

export interface AttemptContext {
  peerId: string;
  signal: AbortSignal;
  /** 1 for the first attempt. */
  attempt: number;
  kind: AttemptKind;
  correlationId: string;
}

export type Executor<T, R> = (task: T, context: AttemptContext) => Promise<Execution<R>>;

export interface SubmitOptions {
  priority?: Priority;
  signal?: AbortSignal;
  /** GET/HEAD/OPTIONS, or a request with an Idempotency-Key: may be retried and hedged. */
  idempotent?: boolean;
  /** Hedge this request when slow (idempotent GETs). */
  hedgeable?: boolean;
  /** Request body bytes, counted against `maxQueuedBytes`. */
  sizeBytes?: number;
  correlationId?: string;
  /** Set on a request that continues another one's body (a range resume): counted apart in the stats. */
  resumeOf?: string;
}

/** One finished request, for the stats and the request log. */
export interface RequestRecord {
  id: number;
  correlationId: string;
  resumeOf: string | null;
  priority: Priority;
  ok: boolean;
  category: ErrorCategory | null;
  message: string | null;
  peerId: string | null;
  attempts: number;
  hedged: boolean;
  hedgeWon: boolean | null;
  queueWaitMs: number | null;
  ttfbMs: number | null;
  transferMs: number | null;
  totalMs: number;
}

export type QueueEvent =
  | { type: 'queued'; id: number; priority: Priority }
  | { type: 'rejected'; category: 'queue_full'; priority: Priority }
  | { type: 'dispatched'; id: number; peerId: string; kind: AttemptKind; attempt: number }
  | {
      type: 'attempt_failed';
      id: number;
      peerId: string;
      category: ErrorCategory;
      next: 'retry' | 'other_attempt' | 'give_up' | 'budget_exhausted';
    }
  | { type: 'peer_ejected'; peerId: string; untilMs: number }
  | { type: 'hedge'; id: number; won: boolean }
  | { type: 'no_peers'; id: number }
  | { type: 'finished'; record: RequestRecord };
