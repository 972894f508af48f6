import { isRetryable, PeerlaneError, toPeerlaneError } from '../errors';
import type { ResponseStream } from '../peers/session';
import type { RequestHead } from '../protocol/frames';
import { checkResumed, planResume } from './range-resume';

/**
 * A response body that survives the loss of its exit: when the stream fails with a retryable error
 * after the page has read everything that arrived, it asks for the rest elsewhere (see
 * `range-resume.ts`) and carries on. `done` settles when the page has read the end, or on failure.
 */
export interface PeerResponse {
  stream: ResponseStream;
  peerId: string;
}

export type Resubmit = (request: RequestHead, resumeNumber: number) => Promise<PeerResponse>;

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
        const chunk = await this.current.read();
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
