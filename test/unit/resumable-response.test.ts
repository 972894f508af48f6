import { describe, expect, it } from 'vitest';
import { PeerlaneError } from '../../extension/core/errors';
import { ResumableResponse, type Resubmit } from '../../extension/core/http/resumable-response';
import type { ResponseStream } from '../../extension/core/peers/session';
import type { RequestHead, ResponseHead } from '../../extension/core/protocol/frames';
import { FakeClock, flush } from '../helpers/fake-clock';

/** A response stream the test feeds by hand: what an exit's BODY frames would bring. */
class HandFedStream implements ResponseStream {
  readonly done: Promise<void>;
  cancelledWith: PeerlaneError | null = null;
  private readonly chunks: (Uint8Array | null)[] = [];
  private failure: PeerlaneError | null = null;
  private waiting: (() => void) | null = null;
  private settle: (error: PeerlaneError | null) => void = () => undefined;

  constructor(readonly head: ResponseHead) {
    this.done = new Promise<void>((resolve, reject) => {
      this.settle = (error) => (error ? reject(error) : resolve());
    });
    this.done.catch(() => undefined);
  }

  get bufferedChunks(): number {
    return this.chunks.length;
  }

  feed(chunk: Uint8Array | null): void {
    this.chunks.push(chunk);
    this.waiting?.();
  }

  cancel(reason: PeerlaneError): void {
    this.cancelledWith = reason;
    this.failure = reason;
    this.settle(reason);
    this.waiting?.();
  }

  async read(): Promise<Uint8Array | null> {
    for (;;) {
      if (this.chunks.length > 0) {
        const chunk = this.chunks.shift() ?? null;
        if (chunk === null) this.settle(null);
        return chunk;
      }
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => (this.waiting = resolve));
      this.waiting = null;
    }
  }
}

const REQUEST: RequestHead = { method: 'GET', url: 'https://example.com/big.bin', headers: [] };
const RESUMABLE_HEAD: ResponseHead = {
  status: 200,
  statusText: 'OK',
  headers: [
    ['content-length', '30'],
    ['etag', '"v1"'],
  ],
};
const STALL_MS = 30_000;
const bytes = (count: number, fill: number): Uint8Array => new Uint8Array(count).fill(fill);

function reading(response: ResumableResponse): { chunks: Uint8Array[]; outcome: Promise<string> } {
  const chunks: Uint8Array[] = [];
  const outcome = (async () => {
    for (;;) {
      const chunk = await response.read();
      if (chunk === null) return 'ended';
      chunks.push(chunk);
    }
  })().catch((error: unknown) => (error instanceof PeerlaneError ? error.category : 'thrown'));
  return { chunks, outcome };
}

describe('a routed response body: no deadline, a stall limit, resumed elsewhere', () => {
  it('a body that keeps moving completes however long it takes', async () => {
    const clock = new FakeClock();
    const stream = new HandFedStream(RESUMABLE_HEAD);
    const response = new ResumableResponse({ stream, peerId: 'a' }, REQUEST, null, new AbortController().signal, {
      ms: STALL_MS,
      clock,
    });
    const { chunks, outcome } = reading(response);
    // Ten minutes of a byte every 20 s: each read waits less than the stall limit.
    for (let step = 0; step < 30; step += 1) {
      clock.advance(20_000);
      stream.feed(bytes(1, step));
      await flush();
    }
    stream.feed(null);
    await expect(outcome).resolves.toBe('ended');
    expect(chunks).toHaveLength(30);
    await expect(response.done).resolves.toBeUndefined();
    expect(stream.cancelledWith).toBeNull();
  });

  it('a read that waits past the limit cancels the stalled exit and fetches the rest from another', async () => {
    const clock = new FakeClock();
    const stalled = new HandFedStream(RESUMABLE_HEAD);
    const asked: RequestHead[] = [];
    const rest = new HandFedStream({
      status: 206,
      statusText: 'Partial Content',
      headers: [['content-range', 'bytes 10-29/30']],
    });
    const resubmit: Resubmit = (request) => {
      asked.push(request);
      return Promise.resolve({ stream: rest, peerId: 'b' });
    };
    const response = new ResumableResponse(
      { stream: stalled, peerId: 'a' },
      REQUEST,
      resubmit,
      new AbortController().signal,
      { ms: STALL_MS, clock },
    );
    const { chunks, outcome } = reading(response);
    stalled.feed(bytes(10, 1));
    await flush();
    clock.advance(STALL_MS - 1);
    await flush();
    expect(stalled.cancelledWith).toBeNull();
    clock.advance(1);
    await flush();
    expect(stalled.cancelledWith).toMatchObject({ category: 'attempt_timeout' });
    expect(asked.map((request) => request.headers)).toEqual([
      [
        ['range', 'bytes=10-'],
        ['if-range', '"v1"'],
      ],
    ]);
    rest.feed(bytes(20, 2));
    rest.feed(null);
    await expect(outcome).resolves.toBe('ended');
    expect(chunks.map((chunk) => chunk.byteLength)).toEqual([10, 20]);
    expect(response.peerId).toBe('b');
    expect(response.resumes).toBe(1);
  });

  it('a reader that pauses is never timed out: the limit runs only while a read waits', async () => {
    const clock = new FakeClock();
    const stream = new HandFedStream(RESUMABLE_HEAD);
    const response = new ResumableResponse({ stream, peerId: 'a' }, REQUEST, null, new AbortController().signal, {
      ms: STALL_MS,
      clock,
    });
    stream.feed(bytes(10, 1));
    expect(await response.read()).toHaveLength(10);
    // The page reads nothing for five minutes (a paused video): no read waits, nothing fails.
    clock.advance(300_000);
    await flush();
    expect(stream.cancelledWith).toBeNull();
    stream.feed(bytes(20, 2));
    stream.feed(null);
    expect(await response.read()).toHaveLength(20);
    expect(await response.read()).toBeNull();
    await expect(response.done).resolves.toBeUndefined();
  });

  it('a stalled body that cannot resume fails with attempt_timeout, and says how long it waited', async () => {
    const clock = new FakeClock();
    const stream = new HandFedStream({ status: 200, statusText: 'OK', headers: [] });
    const response = new ResumableResponse({ stream, peerId: 'a' }, REQUEST, null, new AbortController().signal, {
      ms: STALL_MS,
      clock,
    });
    const reads = response.read();
    reads.catch(() => undefined);
    clock.advance(STALL_MS);
    await expect(reads).rejects.toMatchObject({
      category: 'attempt_timeout',
      message: 'the exit sent no body byte for 30 s',
    });
    await expect(response.done).rejects.toMatchObject({ category: 'attempt_timeout' });
    expect(stream.cancelledWith).toMatchObject({ category: 'attempt_timeout' });
  });

  it('cancel stops the current stream at its exit and settles the body with the reason', async () => {
    const stream = new HandFedStream(RESUMABLE_HEAD);
    const response = new ResumableResponse({ stream, peerId: 'a' }, REQUEST, null, new AbortController().signal);
    response.cancel(new PeerlaneError('cancelled', 'the page went away'));
    expect(stream.cancelledWith).toMatchObject({ category: 'cancelled', message: 'the page went away' });
    await expect(response.done).rejects.toMatchObject({ category: 'cancelled' });
  });
});
