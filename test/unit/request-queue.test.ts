import { describe, expect, it } from 'vitest';
import { PeerlaneError } from '../../extension/core/errors';
import { isLostRace } from '../../extension/core/queue/request-queue';
import { flush } from '../helpers/fake-clock';
import { categoryOf, queueHarness, warmUpTtfb } from '../helpers/queue-harness';

const lost = () => new PeerlaneError('peer_lost', 'channel closed');

describe('request queue: admission, order and slots', () => {
  it('serves in order and never exceeds per-peer concurrency; the slot is held until the body ends', async () => {
    const { calls, queue } = queueHarness({ maxQueued: 10, perPeerConcurrency: 2 });
    queue.addPeer('a');
    const results = ['1', '2', '3', '4'].map((task) => queue.submit(task));
    await flush();
    expect(calls.map((call) => call.task)).toEqual(['1', '2']);
    expect(queue.inflight).toBe(2);
    expect(queue.queued).toBe(2);
    calls[0]!.answer('r1');
    expect(await results[0]).toBe('r1');
    await flush();
    expect(calls).toHaveLength(2);
    calls[0]!.finishBody();
    await flush();
    expect(calls.map((call) => call.task)).toEqual(['1', '2', '3']);
  });

  it('a changed per-peer limit applies to peers already known, within what each exit granted', async () => {
    const { queue } = queueHarness({ maxQueued: 10, perPeerConcurrency: 6 });
    queue.addPeer('granted-4', 4);
    queue.addPeer('said-nothing');
    const capacities = () => Object.fromEntries(queue.peers().map((peer) => [peer.peerId, peer.capacity]));
    expect(capacities()).toEqual({ 'granted-4': 4, 'said-nothing': 6 });
    queue.configure({ perPeerConcurrency: 1 });
    expect(capacities()).toEqual({ 'granted-4': 1, 'said-nothing': 1 });
    queue.configure({ perPeerConcurrency: 8 });
    expect(capacities()).toEqual({ 'granted-4': 4, 'said-nothing': 8 });
  });

  it('an exit that paused (capacity 0) is never chosen; with every exit paused, waiting and new requests fail at once with sharing_off', async () => {
    const { calls, clock, queue } = queueHarness({ maxQueued: 10, perPeerConcurrency: 3, requestTimeoutMs: 60_000 });
    queue.addPeer('a');
    queue.addPeer('b');
    queue.addPeer('b', 0);
    const served = [1, 2, 3].map((index) => queue.submit(`to-a-${index}`));
    await flush();
    expect(calls.map((call) => call.peerId)).toEqual(['a', 'a', 'a']);
    expect(queue.peers().map((peer) => [peer.peerId, peer.capacity, peer.health])).toEqual([
      ['a', 3, 'warming'],
      ['b', 0, 'paused'],
    ]);
    // These wait behind a's slots: when a pauses too, it fails now, not at the request timeout.
    const fourth = queue.submit('waiting');
    const fifth = queue.submit('waiting too');
    clock.advance(300);
    queue.addPeer('a', 0);
    await expect(fourth).rejects.toMatchObject({ category: 'sharing_off' });
    await expect(fifth).rejects.toMatchObject({ category: 'sharing_off' });
    await expect(queue.submit('new')).rejects.toMatchObject({
      category: 'sharing_off',
      message: 'every exit this browser is connected to has paused sharing',
    });
    // What was already being served goes on: a paused exit finishes its streams.
    for (const call of calls) call.answer(`${call.task} ok`);
    expect(await Promise.all(served)).toEqual(['to-a-1 ok', 'to-a-2 ok', 'to-a-3 ok']);
    // b shares again: requests go to it.
    queue.addPeer('b', 2);
    const again = queue.submit('after');
    await flush();
    expect(calls.at(-1)).toMatchObject({ task: 'after', peerId: 'b' });
    calls.at(-1)!.answer('back');
    expect(await again).toBe('back');
  });

  it('a retry does not wait for a paused exit: it goes back to the exit it tried', async () => {
    const { calls, clock, queue } = queueHarness({ maxQueued: 10, requestTimeoutMs: 60_000, retryBaseMs: 100 });
    queue.addPeer('a');
    queue.addPeer('b', 0);
    const result = queue.submit('x', { idempotent: true });
    await flush();
    calls[0]!.fail(lost());
    await flush();
    clock.advance(2_000); // past any retry delay (full jitter under retryCapMs)
    await flush();
    expect(calls.map((call) => call.peerId)).toEqual(['a', 'a']);
    calls[1]!.answer('second time');
    expect(await result).toBe('second time');
  });

  it('with no exit reachable (signaling offers no relay), waiting and new requests fail at once with the reason, until a peer comes', async () => {
    const { calls, clock, queue } = queueHarness({ maxQueued: 10, requestTimeoutMs: 60_000 });
    const waiting = queue.submit('before');
    const settledAt: number[] = [];
    void waiting.catch(() => settledAt.push(clock.now()));
    clock.advance(500);
    queue.setUnreachable('2 exits are online, but none can reach this browser');
    await expect(waiting).rejects.toMatchObject({
      category: 'no_peers',
      message: '2 exits are online, but none can reach this browser',
    });
    expect(settledAt).toEqual([500]); // not at the 60 s request timeout
    await expect(queue.submit('during')).rejects.toMatchObject({ category: 'no_peers' });
    expect(queue.queued).toBe(0);
    // A peer after all (a relay configured, a reachable exit): requests are served again.
    queue.addPeer('a');
    const served = queue.submit('after');
    await flush();
    expect(calls.map((call) => call.task)).toEqual(['after']);
    calls[0]!.answer('ok');
    expect(await served).toBe('ok');
    // Lifted: with no peer again, a request waits for one as usual.
    queue.removePeer('a');
    queue.setUnreachable(null);
    const later = queue.submit('later');
    clock.advance(1000);
    expect(queue.queued).toBe(1);
    queue.addPeer('b');
    await flush();
    expect(calls.map((call) => call.task)).toEqual(['after', 'later']);
    void later.catch(() => undefined);
  });

  it('rejects at once with queue_full over the count bound, and keeps what it admitted', async () => {
    const { queue, events } = queueHarness();
    const admitted = [queue.submit('1'), queue.submit('2'), queue.submit('3')];
    for (const promise of admitted) promise.catch(() => undefined);
    expect(await categoryOf(queue.submit('4'))).toBe('queue_full');
    expect(queue.queued).toBe(3);
    expect(events.filter((event) => event.type === 'rejected')).toHaveLength(1);
  });

  it('rejects over the byte bound and admits again once bytes are released', async () => {
    const { queue, calls } = queueHarness({ maxQueued: 10, maxQueuedBytes: 1000 });
    queue.addPeer('a');
    const big = queue.submit('big', { sizeBytes: 800 });
    expect(await categoryOf(queue.submit('more', { sizeBytes: 300 }))).toBe('queue_full');
    expect(queue.bytesAdmitted).toBe(800);
    await flush();
    calls[0]!.answer('ok');
    await big;
    calls[0]!.finishBody();
    await flush();
    expect(queue.bytesAdmitted).toBe(0);
    const again = queue.submit('more', { sizeBytes: 300 });
    await flush();
    calls[1]!.answer('ok');
    expect(await again).toBe('ok');
  });

  it('times out a request waiting with no peers as no_peers, and one carried by a peer as timeout', async () => {
    const { clock, calls, queue } = queueHarness({ attemptTimeoutMs: 5000 });
    const waiting = queue.submit('lonely');
    clock.advance(999);
    await flush();
    expect(queue.queued).toBe(1);
    clock.advance(1);
    expect(await categoryOf(waiting)).toBe('no_peers');
    queue.addPeer('a');
    const carried = queue.submit('slow');
    await flush();
    clock.advance(1000);
    expect(await categoryOf(carried)).toBe('timeout');
    expect(calls[0]!.signal.aborted).toBe(true);
    expect(queue.inflight).toBe(0);
    expect(queue.attemptsRunning).toBe(0);
  });

  it('the request timeout counts to the response head: a body that keeps streaming is never cut by it', async () => {
    const { clock, calls, queue, finished } = queueHarness();
    queue.addPeer('a');
    const pending = queue.submit('big');
    await flush();
    clock.advance(900);
    calls[0]!.answer('head');
    expect(await pending).toBe('head');
    // Ten times the request timeout later the body is still streaming, its attempt untouched.
    clock.advance(10_000);
    await flush();
    expect(calls[0]!.signal.aborted).toBe(false);
    expect(finished()).toEqual([]);
    expect(queue.inflight).toBe(1);
    calls[0]!.finishBody();
    await flush();
    expect(finished()[0]).toMatchObject({ ok: true });
    expect(queue.inflight).toBe(0);
  });

  it('a request without a response head by the request timeout fails as timeout and aborts its attempt', async () => {
    const { clock, calls, queue, finished } = queueHarness({ attemptTimeoutMs: 60_000 });
    queue.addPeer('a');
    const pending = queue.submit('slow');
    pending.catch(() => undefined);
    await flush();
    clock.advance(1000);
    await flush();
    await expect(pending).rejects.toMatchObject({ category: 'timeout', message: 'no response within 1000 ms' });
    expect(calls[0]!.signal.aborted).toBe(true);
    expect(finished()[0]).toMatchObject({ ok: false, category: 'timeout' });
    expect(queue.inflight).toBe(0);
  });

  it('cancels by AbortSignal, both queued and in flight, releasing the slot', async () => {
    const { calls, queue } = queueHarness({ maxQueued: 5, perPeerConcurrency: 1 });
    queue.addPeer('a');
    const first = new AbortController();
    const second = new AbortController();
    const inflight = queue.submit('1', { signal: first.signal });
    const queued = queue.submit('2', { signal: second.signal });
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

  it('records queue wait, time to first byte and transfer on the injected clock', async () => {
    const { clock, calls, queue, finished } = queueHarness({ perPeerConcurrency: 1 });
    queue.addPeer('a');
    const first = queue.submit('1');
    const second = queue.submit('2');
    await flush();
    clock.advance(30);
    calls[0]!.answer('ok');
    await first;
    clock.advance(20);
    calls[0]!.finishBody();
    await flush();
    clock.advance(40);
    calls[1]!.answer('ok');
    await second;
    clock.advance(60);
    calls[1]!.finishBody();
    await flush();
    expect(finished()[0]).toMatchObject({
      ok: true,
      peerId: 'a',
      queueWaitMs: 0,
      ttfbMs: 30,
      transferMs: 20,
      totalMs: 50,
    });
    expect(finished()[1]).toMatchObject({ queueWaitMs: 50, ttfbMs: 40, transferMs: 60, totalMs: 150 });
  });
});

describe('request queue: priorities and aging', () => {
  it('serves document before interactive before background', async () => {
    const { calls, queue } = queueHarness({ maxQueued: 10, perPeerConcurrency: 1 });
    for (const [task, priority] of [
      ['bg', 'background'],
      ['int', 'interactive'],
      ['doc', 'document'],
    ] as const)
      void queue.submit(task, { priority }).catch(() => undefined);
    queue.addPeer('a');
    await flush();
    for (let served = 1; served < 3; served += 1) {
      calls.at(-1)!.answer('ok');
      await flush();
      calls.at(-1)!.finishBody();
      await flush();
    }
    expect(calls.map((call) => call.task)).toEqual(['doc', 'int', 'bg']);
  });

  it('a background request is served within the aging bound under a continuous interactive flood', async () => {
    const agingMs = 500;
    const { clock, calls, queue, finished } = queueHarness({
      maxQueued: 1000,
      perPeerConcurrency: 1,
      agingMs,
      requestTimeoutMs: 60_000,
    });
    queue.addPeer('a');
    // Keep the interactive lane non-empty for the whole test: 2 new requests per 10 ms served.
    void queue.submit('flood-0').catch(() => undefined);
    void queue.submit('low', { priority: 'background' }).catch(() => undefined);
    let served = 0;
    for (let step = 0; step < 300 && !calls.some((call) => call.task === 'low'); step += 1) {
      void queue.submit(`flood-${step}-a`).catch(() => undefined);
      void queue.submit(`flood-${step}-b`).catch(() => undefined);
      clock.advance(10);
      await flush();
      const current = calls[served]!;
      current.answer('ok');
      await flush();
      current.finishBody();
      await flush();
      served += 1;
    }
    const low = calls.findIndex((call) => call.task === 'low');
    expect(low).toBeGreaterThan(0);
    const record = finished().find((entry) => entry.priority === 'background');
    const lowWait = record ? record.queueWaitMs : null;
    // Dispatched the first time a slot freed after aging (one 10 ms service time of slack).
    expect(lowWait ?? clock.now()).toBeLessThanOrEqual(agingMs + 10);
  });
});

describe('request queue: peer choice and ejection', () => {
  it('prefers the peer with the lower EWMA time to first byte (power of two choices)', async () => {
    const { clock, calls, queue } = queueHarness({
      maxQueued: 100,
      perPeerConcurrency: 50,
      warmupMs: 0,
      requestTimeoutMs: 60_000,
    });
    queue.addPeer('fast');
    queue.addPeer('slow');
    // Teach the EWMA: fast answers in 5 ms, slow in 200 ms.
    for (let round = 0; round < 6; round += 1) {
      const requests = [queue.submit(`warm-${round}-1`), queue.submit(`warm-${round}-2`)];
      await flush();
      // Both attempts started together: answer each when its peer's latency has passed.
      const pending = calls.slice(-2).sort((x, y) => (x.peerId === 'fast' ? -1 : 1) - (y.peerId === 'fast' ? -1 : 1));
      let elapsed = 0;
      for (const call of pending) {
        const due = call.peerId === 'fast' ? 5 : 200;
        clock.advance(due - elapsed);
        elapsed = due;
        call.answer('ok');
        await flush();
        call.finishBody();
      }
      await Promise.all(requests);
      await flush();
    }
    const before = calls.length;
    for (let index = 0; index < 20; index += 1) void queue.submit(`measure-${index}`).catch(() => undefined);
    await flush();
    const chosen = calls.slice(before).map((call) => call.peerId);
    expect(chosen.filter((peer) => peer === 'fast').length).toBeGreaterThanOrEqual(14);
    expect(queue.peers().find((peer) => peer.peerId === 'fast')!.ewmaTtfbMs).toBeLessThan(50);
  });

  it('ejects a peer after consecutive failures, for a growing time, and brings it back warming', async () => {
    const { clock, calls, queue, events } = queueHarness({
      maxQueued: 100,
      perPeerConcurrency: 4,
      ejectAfterFailures: 2,
      ejectBaseMs: 1000,
      ejectMaxMs: 10_000,
      warmupMs: 0,
      requestTimeoutMs: 60_000,
      maxAttempts: 1,
    });
    queue.addPeer('bad');
    queue.addPeer('good');
    const failBad = async (count: number) => {
      for (let index = 0; index < count; index += 1) {
        void queue.submit(`x${clock.now()}-${index}`).catch(() => undefined);
        await flush();
        const call = calls.at(-1)!;
        if (call.peerId === 'bad') call.fail(lost());
        else {
          call.answer('ok');
          await flush();
          call.finishBody();
        }
        await flush();
      }
    };
    for (let tries = 0; tries < 40 && !events.some((event) => event.type === 'peer_ejected'); tries += 1)
      await failBad(1);
    const firstEjection = events.find((event) => event.type === 'peer_ejected');
    expect(firstEjection).toMatchObject({ peerId: 'bad', untilMs: clock.now() + 1000 });
    expect(queue.peers().find((peer) => peer.peerId === 'bad')!.health).toBe('ejected');
    // While ejected, every request goes to the good peer.
    const start = calls.length;
    await failBad(5);
    expect(calls.slice(start).every((call) => call.peerId === 'good')).toBe(true);
    clock.advance(1000);
    expect(queue.peers().find((peer) => peer.peerId === 'bad')!.health).not.toBe('ejected');
    for (let tries = 0; tries < 40 && events.filter((event) => event.type === 'peer_ejected').length < 2; tries += 1)
      await failBad(1);
    const second = events.filter((event) => event.type === 'peer_ejected')[1];
    expect(second).toMatchObject({ peerId: 'bad', untilMs: clock.now() + 2000 });
  });

  it('never ejects the only peer', async () => {
    const { calls, queue } = queueHarness({ maxQueued: 10, ejectAfterFailures: 1, maxAttempts: 1 });
    queue.addPeer('only');
    for (let index = 0; index < 3; index += 1) {
      const request = queue.submit(`x${index}`);
      await flush();
      calls.at(-1)!.fail(lost());
      expect(await categoryOf(request)).toBe('peer_lost');
    }
    expect(queue.peers()[0]!.health).not.toBe('ejected');
  });

  it('a warming peer gets a small share while a healthy peer exists, and full traffic alone', async () => {
    const { clock, calls, queue } = queueHarness({
      maxQueued: 100,
      perPeerConcurrency: 100,
      warmupMs: 10_000,
      requestTimeoutMs: 60_000,
    });
    queue.addPeer('old');
    clock.advance(10_000);
    queue.addPeer('new');
    for (let index = 0; index < 40; index += 1) void queue.submit(`x${index}`).catch(() => undefined);
    await flush();
    const toNew = calls.filter((call) => call.peerId === 'new').length;
    expect(toNew).toBeLessThan(10);
    expect(toNew).toBeGreaterThan(0);
    queue.removePeer('old');
    const before = calls.length;
    for (let index = 0; index < 5; index += 1) void queue.submit(`y${index}`).catch(() => undefined);
    await flush();
    expect(calls.slice(before).every((call) => call.peerId === 'new')).toBe(true);
  });
});

describe('request queue: retries, attempt timeouts and hedging', () => {
  it('retries an idempotent request on a different peer after a peer loss', async () => {
    const { clock, calls, queue, events, finished } = queueHarness({ maxQueued: 10, retryBaseMs: 100 });
    queue.addPeer('a');
    queue.addPeer('b');
    const request = queue.submit('get', { idempotent: true });
    await flush();
    const first = calls[0]!;
    first.fail(lost());
    await flush();
    expect(events.find((event) => event.type === 'attempt_failed')).toMatchObject({
      next: 'retry',
      category: 'peer_lost',
    });
    clock.advance(100);
    await flush();
    const second = calls[1]!;
    expect(second.peerId).not.toBe(first.peerId);
    expect(second.context).toMatchObject({ attempt: 2, kind: 'retry' });
    second.answer('ok');
    expect(await request).toBe('ok');
    second.finishBody();
    await flush();
    expect(finished()[0]).toMatchObject({ ok: true, attempts: 2 });
  });

  it('never retries a non-idempotent request', async () => {
    const { clock, calls, queue } = queueHarness({ maxQueued: 10 });
    queue.addPeer('a');
    queue.addPeer('b');
    const post = queue.submit('post', { idempotent: false });
    await flush();
    calls[0]!.fail(lost());
    expect(await categoryOf(post)).toBe('peer_lost');
    clock.advance(5000);
    await flush();
    expect(calls).toHaveLength(1);
  });

  it('tries a request its peer could not carry (nothing sent) on another peer, even a POST, and gives up once every peer was tried', async () => {
    const { clock, calls, queue } = queueHarness({ maxQueued: 10, maxAttempts: 5, retryCapMs: 10 });
    queue.addPeer('a');
    queue.addPeer('b');
    const unsent = () => new PeerlaneError('method_refused', 'not carried here; nothing was sent', { unsent: true });
    const post = queue.submit('post', { idempotent: false });
    await flush();
    calls[0]!.fail(unsent());
    await flush();
    clock.advance(20);
    await flush();
    expect(calls).toHaveLength(2);
    expect(calls[1]!.peerId).not.toBe(calls[0]!.peerId);
    calls[1]!.answer('carried');
    expect(await post).toBe('carried');

    const nowhere = queue.submit('nowhere', { idempotent: false });
    await flush();
    calls[2]!.fail(unsent());
    await flush();
    clock.advance(20);
    await flush();
    calls[3]!.fail(unsent());
    expect(await categoryOf(nowhere)).toBe('method_refused');
    clock.advance(100);
    await flush();
    expect(calls).toHaveLength(4);
  });

  it('does not retry a refusal (not retryable) and stops at maxAttempts', async () => {
    const { clock, calls, queue } = queueHarness({ maxQueued: 10, maxAttempts: 2, retryCapMs: 10 });
    queue.addPeer('a');
    queue.addPeer('b');
    const refused = queue.submit('r', { idempotent: true });
    await flush();
    calls[0]!.fail(new PeerlaneError('destination_refused', 'private'));
    expect(await categoryOf(refused)).toBe('destination_refused');
    const flaky = queue.submit('f', { idempotent: true });
    await flush();
    calls[1]!.fail(lost());
    await flush();
    clock.advance(10);
    await flush();
    calls[2]!.fail(lost());
    expect(await categoryOf(flaky)).toBe('peer_lost');
    expect(calls).toHaveLength(3);
  });

  it('an attempt with no response head within attemptTimeoutMs is aborted and retried elsewhere', async () => {
    const { clock, calls, queue } = queueHarness({ maxQueued: 10, attemptTimeoutMs: 300, retryCapMs: 1 });
    queue.addPeer('a');
    queue.addPeer('b');
    const request = queue.submit('x', { idempotent: true });
    await flush();
    clock.advance(300);
    await flush();
    expect(calls[0]!.signal.aborted).toBe(true);
    expect((calls[0]!.signal.reason as PeerlaneError).category).toBe('attempt_timeout');
    clock.advance(1);
    await flush();
    expect(calls[1]!.peerId).not.toBe(calls[0]!.peerId);
    calls[1]!.answer('ok');
    expect(await request).toBe('ok');
  });

  it('the retry budget caps retries at the floor plus a ratio of recent requests', async () => {
    const { clock, calls, queue, events } = queueHarness({
      maxQueued: 500,
      perPeerConcurrency: 500,
      retryBudgetFloor: 2,
      retryBudgetRatio: 0.2,
      retryBudgetWindowMs: 10_000,
      retryCapMs: 1,
      ejectAfterFailures: 1000,
    });
    queue.addPeer('a');
    queue.addPeer('b');
    const requests = Array.from({ length: 50 }, (_, index) => queue.submit(`x${index}`, { idempotent: true }));
    for (const promise of requests) promise.catch(() => undefined);
    await flush();
    for (let round = 0; round < 5; round += 1) {
      for (const call of calls.filter((candidate) => !candidate.signal.aborted)) call.fail(lost());
      await flush();
      clock.advance(2);
      await flush();
    }
    const retries = events.filter((event) => event.type === 'attempt_failed' && event.next === 'retry').length;
    expect(retries).toBe(2 + 0.2 * 50);
    expect(
      events.filter((event) => event.type === 'attempt_failed' && event.next === 'budget_exhausted').length,
    ).toBeGreaterThan(0);
  });

  it('hedges a slow idempotent GET after the recent p95 TTFB; the first head wins and the loser is cancelled', async () => {
    const harness = queueHarness({
      maxQueued: 100,
      perPeerConcurrency: 50,
      hedging: true,
      hedgeMinSamples: 10,
      hedgeMinDelayMs: 10,
      requestTimeoutMs: 60_000,
      warmupMs: 0,
    });
    const { clock, calls, queue, events, finished } = harness;
    queue.addPeer('a');
    queue.addPeer('b');
    await warmUpTtfb(harness, 10);
    expect(queue.hedgeDelayMs()).toBe(20);
    const slow = queue.submit('slow', { idempotent: true, hedgeable: true });
    await flush();
    const primary = calls.at(-1)!;
    clock.advance(20);
    await flush();
    const hedge = calls.at(-1)!;
    expect(hedge).not.toBe(primary);
    expect(hedge.context.kind).toBe('hedge');
    expect(hedge.peerId).not.toBe(primary.peerId);
    hedge.answer('from hedge');
    expect(await slow).toBe('from hedge');
    expect(primary.signal.aborted).toBe(true);
    // Told apart from other cancellations: a drawn check keeps the loser's answer (background/requester/exit-checks.ts).
    expect(isLostRace(primary.signal.reason)).toBe(true);
    expect(isLostRace(new PeerlaneError('cancelled', 'the page went away'))).toBe(false);
    hedge.finishBody();
    await flush();
    expect(events.find((event) => event.type === 'hedge')).toMatchObject({ won: true });
    expect(finished().at(-1)).toMatchObject({ ok: true, hedged: true, hedgeWon: true, attempts: 2 });
    expect(queue.attemptsRunning).toBe(0);
  });

  it('does not hedge non-hedgeable requests', async () => {
    const { clock, calls, queue } = queueHarness({
      maxQueued: 100,
      perPeerConcurrency: 50,
      hedging: true,
      hedgeMinSamples: 1,
      hedgeMinDelayMs: 5,
      requestTimeoutMs: 60_000,
    });
    queue.addPeer('a');
    queue.addPeer('b');
    const warm = queue.submit('w');
    await flush();
    calls[0]!.answer('ok');
    await warm;
    const post = queue.submit('post', { idempotent: false, hedgeable: true });
    post.catch(() => undefined);
    await flush();
    clock.advance(500);
    await flush();
    expect(calls).toHaveLength(2);
  });
});
