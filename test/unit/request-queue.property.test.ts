import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERROR_CATEGORIES, PeerlaneError } from '../../extension/core/errors';
import { PRIORITIES } from '../../extension/core/queue/request-queue';
import { fullJitterDelay } from '../../extension/core/queue/retry-budget';
import { flush } from '../helpers/fake-clock';
import { queueHarness, seededRandom, warmUpTtfb } from '../helpers/queue-harness';

/** Cases per property: the full count, or fewer where the mutation run asks (vitest.mutation.config.ts). */
const propertyRuns = (full: number): number => Math.min(full, Number(process.env.PEERLANE_PROPERTY_RUNS ?? full));

/** One step of a random workload against the queue. */
const step = fc.oneof(
  fc.record({
    op: fc.constant('submit' as const),
    priority: fc.constantFrom(...PRIORITIES),
    idempotent: fc.boolean(),
    hedgeable: fc.boolean(),
    size: fc.nat(300),
  }),
  fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 1, max: 400 }) }),
  fc.record({ op: fc.constant('answer' as const), pick: fc.nat() }),
  fc.record({ op: fc.constant('finishBody' as const), pick: fc.nat() }),
  fc.record({ op: fc.constant('failBody' as const), pick: fc.nat(), category: fc.constantFrom(...ERROR_CATEGORIES) }),
  fc.record({
    op: fc.constant('fail' as const),
    pick: fc.nat(),
    category: fc.constantFrom('peer_lost', 'attempt_timeout', 'exit_fetch_failed', 'destination_refused', 'exit_busy'),
  }),
  fc.record({ op: fc.constant('cancel' as const), pick: fc.nat() }),
  fc.record({ op: fc.constant('addPeer' as const), peer: fc.constantFrom('a', 'b', 'c') }),
  fc.record({ op: fc.constant('removePeer' as const), peer: fc.constantFrom('a', 'b', 'c') }),
);

const OPTIONS = {
  maxQueued: 20,
  maxQueuedBytes: 2000,
  perPeerConcurrency: 3,
  requestTimeoutMs: 5000,
  attemptTimeoutMs: 700,
  agingMs: 300,
  maxAttempts: 3,
  retryBaseMs: 20,
  retryCapMs: 200,
  retryBudgetRatio: 0.2,
  retryBudgetFloor: 3,
  // Longer than any generated run, so the budget bound below is exact.
  retryBudgetWindowMs: 10_000_000,
  hedging: true,
  hedgeMinDelayMs: 10,
  hedgeMinSamples: 2,
  ejectAfterFailures: 2,
  ejectBaseMs: 500,
  warmupMs: 300,
};

describe('request queue properties (random workloads, fake clock)', () => {
  it('no request finishes twice, no credit leaks, bounds hold, memory stays bounded', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(step, { maxLength: 120 }), fc.integer(), async (steps, seed) => {
        const { clock, calls, queue, events } = queueHarness(OPTIONS, seededRandom(seed));
        const controllers: AbortController[] = [];
        const settledCount = new Map<number, number>();
        const kinds = new Map<number, { idempotent: boolean }>();
        /** Attempts answered while still running: each is its request's winner. */
        const winners: typeof calls = [];
        let submitted = 0;
        const live = () => calls.filter((call) => !call.signal.aborted);
        const checkBounds = () => {
          for (const peer of queue.peers()) expect(peer.outstanding).toBeLessThanOrEqual(peer.capacity);
          expect(queue.queued).toBeLessThanOrEqual(OPTIONS.maxQueued + queue.queuedByPriority().retry);
          expect(queue.bytesAdmitted).toBeLessThanOrEqual(OPTIONS.maxQueuedBytes);
          expect(queue.storedEntries).toBeLessThanOrEqual(2 * (queue.queued + 64));
        };
        for (const action of steps) {
          switch (action.op) {
            case 'submit': {
              const controller = new AbortController();
              controllers.push(controller);
              const index = submitted++;
              queue
                .submit(`t${index}`, {
                  priority: action.priority,
                  idempotent: action.idempotent,
                  hedgeable: action.hedgeable,
                  sizeBytes: action.size,
                  signal: controller.signal,
                  correlationId: `t${index}`,
                })
                .then(
                  () => settledCount.set(index, (settledCount.get(index) ?? 0) + 1),
                  () => settledCount.set(index, (settledCount.get(index) ?? 0) + 1),
                );
              kinds.set(index, { idempotent: action.idempotent });
              break;
            }
            case 'advance':
              clock.advance(action.ms);
              break;
            case 'answer':
            case 'finishBody':
            case 'failBody':
            case 'fail': {
              const candidates = live();
              const call = candidates[action.pick % Math.max(1, candidates.length)];
              if (!call) break;
              if (action.op === 'answer') {
                winners.push(call);
                call.answer('ok');
              } else if (action.op === 'finishBody') call.finishBody();
              else call[action.op](new PeerlaneError(action.category, 'generated'));
              break;
            }
            case 'cancel':
              controllers[action.pick % Math.max(1, controllers.length)]?.abort();
              break;
            case 'addPeer':
              queue.addPeer(action.peer);
              break;
            case 'removePeer':
              queue.removePeer(action.peer);
              for (const call of live())
                if (call.peerId === action.peer) call.fail(new PeerlaneError('peer_lost', 'removed'));
              break;
          }
          await flush();
          checkBounds();
          // A hedge race leaves one winner: once an attempt has answered, every other attempt of its request is cancelled.
          const losers = calls.filter((other) =>
            winners.some((winner) => winner !== other && winner.task === other.task),
          );
          expect(
            losers.filter((loser) => !loser.signal.aborted).map((loser) => `${loser.task} on ${loser.peerId}`),
          ).toEqual([]);
        }
        // Drain: a request without a head ends by its timeout; a streaming body is its executor's to
        // end (the reader's stall limit), so every answered body ends here. Nothing may hang.
        clock.advance(OPTIONS.requestTimeoutMs + OPTIONS.retryCapMs + 1);
        for (const winner of winners) winner.failBody(new PeerlaneError('attempt_timeout', 'stalled'));
        await flush();
        const finishedIds = events.flatMap((event) => (event.type === 'finished' ? [event.record.id] : []));
        expect(new Set(finishedIds).size).toBe(finishedIds.length);
        expect(queue.queued).toBe(0);
        expect(queue.inflight).toBe(0);
        expect(queue.attemptsRunning).toBe(0);
        expect(queue.bytesAdmitted).toBe(0);
        for (const peer of queue.peers()) expect(peer.outstanding).toBe(0);
        // Every submitted request settled its promise exactly once.
        for (let index = 0; index < submitted; index += 1) expect(settledCount.get(index)).toBe(1);
        // Attempts: never more than maxAttempts; at most one for a request that may not be repeated.
        // Each record names its submission by the correlation id given at submit (`t<index>`), and its
        // attempts are counted from the dispatch events as well as read from the record.
        const attemptsById = new Map<number, number>();
        for (const event of events)
          if (event.type === 'dispatched') attemptsById.set(event.id, (attemptsById.get(event.id) ?? 0) + 1);
        const records = events.flatMap((event) => (event.type === 'finished' ? [event.record] : []));
        for (const record of records) {
          const dispatched = attemptsById.get(record.id) ?? 0;
          expect(record.attempts).toBe(dispatched);
          expect(dispatched).toBeLessThanOrEqual(OPTIONS.maxAttempts);
          expect(kinds.get(Number(record.correlationId.slice(1)))).toBeDefined();
        }
        const repeatedOnce = records.filter(
          (record) =>
            !kinds.get(Number(record.correlationId.slice(1)))?.idempotent && (attemptsById.get(record.id) ?? 0) > 1,
        );
        expect(repeatedOnce.map((record) => record.correlationId)).toEqual([]);
        // Retries and hedges together stay within the budget.
        const extra = events.filter((event) => event.type === 'dispatched' && event.kind !== 'first').length;
        const admitted = events.filter((event) => event.type === 'queued').length;
        expect(extra).toBeLessThanOrEqual(Math.ceil(OPTIONS.retryBudgetFloor + OPTIONS.retryBudgetRatio * admitted));
        // A hedged request that succeeded says who won.
        expect(records.filter((record) => record.hedged && record.ok && record.hedgeWon === null)).toEqual([]);
      }),
      { numRuns: propertyRuns(150) },
    );
  });

  it('a hedge race leaves one winner: whichever attempt answers first, the others are cancelled and the record says whether the hedge won', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(), { minLength: 1, maxLength: 12 }), async (picks) => {
        const harness = queueHarness({
          maxQueued: 100,
          perPeerConcurrency: 50,
          hedging: true,
          hedgeMinSamples: 3,
          hedgeMinDelayMs: 10,
          requestTimeoutMs: 60_000,
          warmupMs: 0,
        });
        const { clock, calls, queue, finished } = harness;
        queue.addPeer('a');
        queue.addPeer('b');
        // A recent p95 to hedge on: three requests answered after 20 ms.
        await warmUpTtfb(harness, 3);
        const slow = picks.map((_, index) =>
          queue
            .submit(`slow${index}`, { idempotent: true, hedgeable: true, correlationId: `slow${index}` })
            .catch(() => undefined),
        );
        await flush();
        clock.advance((queue.hedgeDelayMs() ?? 0) + 1);
        await flush();
        picks.forEach((pick, index) => {
          const attempts = calls.filter((call) => call.task === `slow${index}` && !call.signal.aborted);
          expect(attempts.length).toBe(2);
          const winner = attempts[pick % attempts.length]!;
          winner.answer('ok');
          winner.finishBody();
        });
        await Promise.all(slow);
        await flush();
        picks.forEach((pick, index) => {
          const attempts = calls.filter((call) => call.task === `slow${index}`);
          const winner = attempts[pick % attempts.length]!;
          expect(attempts.filter((other) => other !== winner && !other.signal.aborted)).toEqual([]);
          const record = finished().find((each) => each.correlationId === `slow${index}`);
          expect(record).toMatchObject({
            ok: true,
            hedged: true,
            attempts: 2,
            hedgeWon: winner.context.kind === 'hedge',
          });
        });
      }),
      { numRuns: propertyRuns(50) },
    );
  });

  it('full-jitter backoff stays within [0, min(cap, base·2^(n−1)))', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 60_000 }),
        fc.double({ min: 0, max: 0.999999, noNaN: true }),
        (retry, base, cap, r) => {
          const delay = fullJitterDelay(retry, base, cap, () => r);
          expect(delay).toBeGreaterThanOrEqual(0);
          expect(delay).toBeLessThan(Math.min(cap, base * 2 ** (retry - 1)));
        },
      ),
    );
  });

  it('priority order holds when nothing has aged: a higher lane is never served after a lower one that queued at the same time', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.constantFrom(...PRIORITIES), { minLength: 1, maxLength: 30 }),
        async (priorities) => {
          const { calls, queue } = queueHarness({ maxQueued: 100, perPeerConcurrency: 1, agingMs: 1_000_000 });
          priorities.forEach(
            (priority, index) =>
              void queue.submit(`${PRIORITIES.indexOf(priority)}:${index}`, { priority }).catch(() => undefined),
          );
          queue.addPeer('a');
          for (let served = 0; served < priorities.length; served += 1) {
            await flush();
            calls[served]!.answer('ok');
            await flush();
            calls[served]!.finishBody();
          }
          await flush();
          const order = calls.map((call) => call.task.split(':').map(Number) as [number, number]);
          for (let index = 1; index < order.length; index += 1) {
            const [previousRank, previousSeq] = order[index - 1]!;
            const [rank, seq] = order[index]!;
            expect(rank > previousRank || (rank === previousRank && seq > previousSeq)).toBe(true);
          }
        },
      ),
      { numRuns: propertyRuns(100) },
    );
  });
});
