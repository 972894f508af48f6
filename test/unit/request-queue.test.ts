import { describe, expect, it } from 'vitest';
import { PeerlaneError } from '../../extension/core/errors';
import { RequestQueue, type Execution, type QueueEvent } from '../../extension/core/queue/request-queue';
import { FakeClock, flush } from '../helpers/fake-clock';

interface Call {
  task: string;
  peerId: string;
  signal: AbortSignal;
  answer(result: string): void;
  finishBody(): void;
  failBody(error: PeerlaneError): void;
  fail(error: PeerlaneError): void;
}

function harness(options = { maxQueued: 3, perPeerConcurrency: 2, timeoutMs: 1000 }) {
  const clock = new FakeClock();
  const calls: Call[] = [];
  const queue = new RequestQueue<string, string>(
    (task, peerId, signal) =>
      new Promise<Execution<string>>((resolve, reject) => {
        let settle: () => void = () => undefined;
        let settleFail: (error: PeerlaneError) => void = () => undefined;
        const settled = new Promise<void>((res, rej) => {
          settle = res;
          settleFail = rej;
        });
        settled.catch(() => undefined);
        signal.addEventListener('abort', () => settleFail(signal.reason as PeerlaneError));
        calls.push({
          task,
          peerId,
          signal,
          answer: (result) => resolve({ result, settled }),
          finishBody: () => settle(),
          failBody: (error) => settleFail(error),
          fail: (error) => reject(error),
        });
      }),
    clock,
    options,
  );
  const events: QueueEvent[] = [];
  queue.subscribe((event) => events.push(event));
  return { clock, calls, queue, events };
}

async function categoryOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return error instanceof PeerlaneError ? error.category : `untyped ${String(error)}`;
  }
}

describe('request queue v1', () => {
  it('serves in FIFO order and never exceeds per-peer concurrency', async () => {
    const { calls, queue } = harness({ maxQueued: 10, perPeerConcurrency: 2, timeoutMs: 1000 });
    queue.addPeer('a');
    const results = ['1', '2', '3', '4'].map((task) => queue.submit(task));
    await flush();
    expect(calls.map((call) => call.task)).toEqual(['1', '2']);
    expect(queue.inflight).toBe(2);
    expect(queue.queued).toBe(2);
    calls[0]!.answer('r1');
    expect(await results[0]).toBe('r1');
    await flush();
    expect(calls).toHaveLength(2); // slot held until the body is done
    calls[0]!.finishBody();
    await flush();
    expect(calls.map((call) => call.task)).toEqual(['1', '2', '3']);
  });

  it('spreads over peers by least outstanding', async () => {
    const { calls, queue } = harness({ maxQueued: 10, perPeerConcurrency: 5, timeoutMs: 1000 });
    queue.addPeer('a');
    queue.addPeer('b');
    for (const task of ['1', '2', '3', '4']) void queue.submit(task).catch(() => undefined);
    await flush();
    expect(calls.map((call) => call.peerId).sort()).toEqual(['a', 'a', 'b', 'b']);
  });

  it('rejects at once with queue_full over the bound, and keeps what it admitted', async () => {
    const { queue, events } = harness();
    const admitted = [queue.submit('1'), queue.submit('2'), queue.submit('3')];
    admitted.forEach((promise) => promise.catch(() => undefined));
    expect(await categoryOf(queue.submit('4'))).toBe('queue_full');
    expect(queue.queued).toBe(3);
    expect(events.filter((event) => event.type === 'failed' && event.category === 'queue_full')).toHaveLength(1);
  });

  it('times out a request waiting with no peers as no_peers, and one carried by a peer as timeout', async () => {
    const { clock, calls, queue } = harness();
    const waiting = queue.submit('lonely');
    clock.advance(999);
    await flush();
    expect(queue.queued).toBe(1);
    clock.advance(1);
    expect(await categoryOf(waiting)).toBe('no_peers');
    expect(queue.queued).toBe(0);

    queue.addPeer('a');
    const carried = queue.submit('slow');
    await flush();
    clock.advance(1000);
    expect(await categoryOf(carried)).toBe('timeout');
    expect(calls[0]!.signal.aborted).toBe(true); // the transport is told to cancel
    await flush();
    expect(queue.inflight).toBe(0);
  });

  it('times out a streaming body and aborts its transport', async () => {
    const { clock, calls, queue, events } = harness();
    queue.addPeer('a');
    const pending = queue.submit('big');
    await flush();
    calls[0]!.answer('head');
    expect(await pending).toBe('head');
    clock.advance(1000);
    await flush();
    expect(calls[0]!.signal.aborted).toBe(true);
    expect(events.some((event) => event.type === 'failed' && event.category === 'timeout')).toBe(true);
    expect(queue.inflight).toBe(0);
  });

  it('cancels by AbortSignal, both queued and in flight, releasing the slot', async () => {
    const { calls, queue } = harness({ maxQueued: 5, perPeerConcurrency: 1, timeoutMs: 1000 });
    queue.addPeer('a');
    const first = new AbortController();
    const second = new AbortController();
    const inflight = queue.submit('1', first.signal);
    const queued = queue.submit('2', second.signal);
    await flush();
    second.abort();
    expect(await categoryOf(queued)).toBe('cancelled');
    first.abort();
    expect(await categoryOf(inflight)).toBe('cancelled');
    expect(calls[0]!.signal.aborted).toBe(true);
    await flush();
    expect(queue.inflight).toBe(0);
    const third = queue.submit('3');
    await flush();
    expect(calls.at(-1)!.task).toBe('3');
    calls.at(-1)!.answer('ok');
    expect(await third).toBe('ok');
  });

  it('reports transport failures with their category and frees the peer', async () => {
    const { calls, queue, events } = harness();
    queue.addPeer('a');
    const request = queue.submit('x');
    await flush();
    calls[0]!.fail(new PeerlaneError('peer_lost', 'channel closed'));
    expect(await categoryOf(request)).toBe('peer_lost');
    expect(queue.inflight).toBe(0);
    expect(events.at(-1)).toMatchObject({ type: 'failed', category: 'peer_lost', peerId: 'a' });
  });

  it('records completion with total latency measured on the injected clock', async () => {
    const { clock, calls, queue, events } = harness();
    queue.addPeer('a');
    const request = queue.submit('x');
    await flush();
    clock.advance(40);
    calls[0]!.answer('ok');
    await request;
    clock.advance(60);
    calls[0]!.finishBody();
    await flush();
    expect(events.find((event) => event.type === 'completed')).toMatchObject({ totalMs: 100, peerId: 'a' });
  });

  it('a removed peer gets no new work', async () => {
    const { calls, queue } = harness();
    queue.addPeer('a');
    queue.removePeer('a');
    queue.addPeer('b');
    void queue.submit('x').catch(() => undefined);
    await flush();
    expect(calls[0]!.peerId).toBe('b');
  });
});
