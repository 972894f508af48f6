import type { Clock } from '../clock';
import { isRetryable, PeerlaneError, toPeerlaneError } from '../errors';
import type { ResponseStream } from '../peers/session';
import type { RequestHead } from '../protocol/frames';
import { checkResumed, planResume } from './range-resume';

/**
 * A response body that survives the loss of its exit: when the stream fails with a retryable error
 * after the page has read everything that arrived, it asks for the rest elsewhere (see
 * `range-resume.ts`) and carries on. `done` settles when the page has read the end, or on failure.
 *
 * A body has no deadline of its own, so a long download that keeps moving completes however long it
 * takes; what fails it is a stall: a read that waits `stall.ms` for a byte (only while the page is
 * reading, so a paused reader is never timed out). The stalled stream is cancelled at its exit, and
 * the rest is asked of another exit like any other failure, where the request may be resumed.
 */
export interface PeerResponse {
  stream: ResponseStream;
  peerId: string;
}

export type Resubmit = (request: RequestHead, resumeNumber: number) => Promise<PeerResponse>;

/** A waiting read's default limit: long enough for a slow exit's pauses, short beside a download. */
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;

/** How long a waiting read may go without a byte, and the clock that times it. */
export interface StallLimit {
  ms: number;
  clock: Pick<Clock, 'setTimeout' | 'clearTimeout'>;
}

export class ResumableResponse {
  readonly head: ResponseStream['head'];
  readonly done: Promise<void>;
  private current: ResponseStream;
  private delivered = 0;
  private finished = false;
  private settle: (error: PeerlaneError | null) => void = () => undefined;
  resumes = 0;
  peerId: string;

  constructor(
    first: PeerResponse,
    private readonly request: RequestHead,
    private readonly resubmit: Resubmit | null,
    signal: AbortSignal,
    private readonly stall: StallLimit | null = null,
    private readonly maxResumes = 2,
  ) {
    this.current = first.stream;
    this.peerId = first.peerId;
    this.head = first.stream.head;
    this.done = new Promise<void>((resolve, reject) => {
      this.settle = (error) => {
        if (this.finished) return;
        this.finished = true;
        if (error) reject(error);
        else resolve();
      };
    });
    this.done.catch(() => undefined);
    const onAbort = (): void => this.settle(toPeerlaneError(signal.reason, 'cancelled'));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  }

  get bufferedChunks(): number {
    return this.current.bufferedChunks;
  }

  async read(): Promise<Uint8Array | null> {
    for (;;) {
      try {
        const chunk = await this.readWithinStallLimit(this.current);
        if (chunk === null) {
          this.settle(null);
          return null;
        }
        this.delivered += chunk.byteLength;
        return chunk;
      } catch (error) {
        const typed = toPeerlaneError(error, 'peer_lost');
        try {
          this.current = await this.resume(typed);
        } catch (final) {
          const failure = toPeerlaneError(final, typed.category);
          this.settle(failure);
          throw failure;
        }
      }
    }
  }

  /** Stops the body (at the exit) and fails its reads with `reason`. */
  cancel(reason: PeerlaneError): void {
    this.current.cancel(reason);
    this.settle(reason);
  }

  private readWithinStallLimit(stream: ResponseStream): Promise<Uint8Array | null> {
    const { stall } = this;
    if (stall === null || stream.bufferedChunks > 0) return stream.read();
    return new Promise((resolve, reject) => {
      const timer = stall.clock.setTimeout(() => {
        // attempt_timeout, not timeout: the exit failed, the request did not; it may resume elsewhere.
        const error = new PeerlaneError('attempt_timeout', `the exit sent no body byte for ${stall.ms / 1000} s`);
        stream.cancel(error);
        reject(error);
      }, stall.ms);
      stream.read().then(
        (chunk) => {
          stall.clock.clearTimeout(timer);
          resolve(chunk);
        },
        (error: unknown) => {
          stall.clock.clearTimeout(timer);
          reject(toPeerlaneError(error, 'peer_lost'));
        },
      );
    });
  }

  private async resume(error: PeerlaneError): Promise<ResponseStream> {
    if (!this.resubmit || this.finished || !isRetryable(error.category) || this.resumes >= this.maxResumes) throw error;
    const plan = planResume(this.request, this.head, this.delivered);
    if (!plan) throw error;
    this.resumes += 1;
    const next = await this.resubmit(plan.request, this.resumes).catch(() => {
      throw error;
    });
    const mismatch = checkResumed(plan, next.stream.head);
    if (mismatch) {
      throw new PeerlaneError(error.category, `${error.message}; ${mismatch.message}`);
    }
    this.peerId = next.peerId;
    return next.stream;
  }
}
