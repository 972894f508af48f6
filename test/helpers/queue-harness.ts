import { PeerlaneError } from '../../extension/core/errors';
import {
  RequestQueue,
  type AttemptContext,
  type Execution,
  type QueueEvent,
  type QueueOptions,
} from '../../extension/core/queue/request-queue';
import { FakeClock, flush } from './fake-clock';

/** One executor call the test drives by hand: answer the head, finish or fail the body, or fail. */
export interface Call {
  task: string;
  peerId: string;
  signal: AbortSignal;
  context: AttemptContext;
  answer(result: string): void;
  finishBody(): void;
  failBody(error: PeerlaneError): void;
  fail(error: PeerlaneError): void;
}

/** Deterministic random source (mulberry32) so P2C and jitter are reproducible. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function queueHarness(options: Partial<QueueOptions> = {}, random: () => number = seededRandom(1)) {
  const clock = new FakeClock();
  const calls: Call[] = [];
  const queue = new RequestQueue<string, string>(
    (task, context) =>
      new Promise<Execution<string>>((resolve, reject) => {
        let settle: () => void = () => undefined;
        let settleFail: (error: PeerlaneError) => void = () => undefined;
        const settled = new Promise<void>((res, rej) => {
          settle = res;
          settleFail = rej;
        });
        settled.catch(() => undefined);
        context.signal.addEventListener('abort', () => {
          settleFail(context.signal.reason as PeerlaneError);
          reject(context.signal.reason);
        });
        calls.push({
          task,
          peerId: context.peerId,
          signal: context.signal,
          context,
          answer: (result) => resolve({ result, settled }),
          finishBody: () => settle(),
          failBody: (error) => settleFail(error),
          fail: (error) => reject(error),
        });
      }),
    clock,
    { maxQueued: 3, perPeerConcurrency: 2, requestTimeoutMs: 1000, hedging: false, ...options },
    random,
  );
  const events: QueueEvent[] = [];
  queue.subscribe((event) => events.push(event));
  const finished = () => events.flatMap((event) => (event.type === 'finished' ? [event.record] : []));
  return { clock, calls, queue, events, finished };
}

/** Gives the queue a recent TTFB to hedge on: `count` idempotent GETs, each answered after `ttfbMs`, bodies finished. */
export async function warmUpTtfb(
  { clock, calls, queue }: ReturnType<typeof queueHarness>,
  count: number,
  ttfbMs = 20,
): Promise<void> {
  for (let index = 0; index < count; index += 1) {
    const request = queue.submit(`warm${index}`, { idempotent: true, hedgeable: true });
    await flush();
    clock.advance(ttfbMs);
    calls.at(-1)!.answer('ok');
    await request;
    calls.at(-1)!.finishBody();
    await flush();
  }
}

export async function categoryOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return error instanceof PeerlaneError ? error.category : `untyped ${String(error)}`;
  }
}
