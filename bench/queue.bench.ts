import { mkdir, writeFile } from 'node:fs/promises';
import type { Clock } from '../extension/core/clock';
import { RequestQueue, type Execution } from '../extension/core/queue/request-queue';

/**
 * `npm run bench:queue`: the queue engine alone, in Node.
 * 1. Throughput: submit → dispatch → head → settled for N requests, against a floor measured in the
 *    same run (the same number of bare promises through an array FIFO), with timers off (the
 *    engine's cost) and with real timers (what the extension pays).
 * 2. Scaling: cost per enqueue and per dispatch with 1 k, 10 k and 100 k requests already waiting.
 * Rounds alternate; medians are reported. Prints a table and writes bench/results/queue.json.
 */
const ROUNDS = 5;
const THROUGHPUT_REQUESTS = 200_000;
const DEPTHS = [1_000, 10_000, 100_000];
const PROBE = 10_000;

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

/** Time without timers: every timeout is far beyond the run, so scheduling them is pure overhead here. */
const timerlessClock: Clock = { now: () => performance.now(), setTimeout: () => 0, clearTimeout: () => undefined };
const realClock: Clock = {
  now: () => performance.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

const settledAtOnce: Execution<number> = { result: 1, settled: Promise.resolve() };
const instant = async (): Promise<Execution<number>> => settledAtOnce;
const OPTIONS = { maxQueued: 10_000_000, maxQueuedBytes: Number.MAX_SAFE_INTEGER, perPeerConcurrency: 1_000_000_000, hedging: false, warmupMs: 0 };

/**
 * Steady state, as in the extension: a producer keeps WINDOW requests outstanding against peers with
 * real per-peer limits (4 exits × 6); each answer frees a slot for the next waiting request. One
 * operation = one request admitted, dispatched, answered and released.
 */
const WINDOW = 1_000;
async function steadyStateOpsPerSecond(clock: Clock, count: number): Promise<number> {
  const queue = new RequestQueue<number, number>(async () => settledAtOnce, clock, { ...OPTIONS, perPeerConcurrency: 6 });
  for (const peer of ['a', 'b', 'c', 'd']) queue.addPeer(peer, 6);
  let submitted = 0;
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    let done = 0;
    const next = (): void => {
      if (submitted >= count) return;
      submitted += 1;
      queue.submit(submitted, { idempotent: true }).then(() => {
        done += 1;
        if (done === count) resolve();
        else next();
      }, reject);
    };
    for (let index = 0; index < WINDOW; index += 1) next();
  });
  return count / ((performance.now() - started) / 1000);
}

/** The whole life: submit → dispatch → head → settled → slot released. */
async function burstOpsPerSecond(clock: Clock, count: number): Promise<number> {
  const queue = new RequestQueue<number, number>(instant, clock, OPTIONS);
  queue.addPeer('a', 1_000_000_000);
  queue.addPeer('b', 1_000_000_000);
  const started = performance.now();
  const pending: Promise<number>[] = new Array(count);
  for (let index = 0; index < count; index += 1) pending[index] = queue.submit(index, { idempotent: true });
  await Promise.all(pending);
  // Wait for the last `settled` to release its slot.
  while (queue.inflight > 0) await new Promise((resolve) => setImmediate(resolve));
  return count / ((performance.now() - started) / 1000);
}

/** The floor: a FIFO of promises resolved by a consumer, nothing else. */
async function floorOpsPerSecond(count: number): Promise<number> {
  const fifo: (() => void)[] = [];
  const started = performance.now();
  const pending: Promise<void>[] = new Array(count);
  for (let index = 0; index < count; index += 1) pending[index] = new Promise<void>((resolve) => fifo.push(resolve));
  for (let head = 0; head < fifo.length; head += 1) await Promise.resolve().then(fifo[head]);
  await Promise.all(pending);
  return count / ((performance.now() - started) / 1000);
}

/** ns per enqueue and per dispatch with `depth` requests already waiting. */
async function costAtDepth(depth: number): Promise<{ enqueueNs: number; dispatchNs: number }> {
  let release: (() => void) | null = null;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const queue = new RequestQueue<number, number>(async () => ({ result: 1, settled: held }), timerlessClock, OPTIONS);
  const all: Promise<number>[] = [];
  for (let index = 0; index < depth; index += 1) all.push(queue.submit(index, { priority: index % 3 === 0 ? 'background' : 'interactive' }));
  const enqueueStart = performance.now();
  for (let index = 0; index < PROBE; index += 1) all.push(queue.submit(depth + index, { priority: 'document' }));
  const enqueueNs = ((performance.now() - enqueueStart) * 1e6) / PROBE;
  // A peer with room for exactly PROBE requests: the dispatch loop takes PROBE entries off a deep queue.
  const dispatchStart = performance.now();
  queue.addPeer('a', PROBE);
  const dispatchNs = ((performance.now() - dispatchStart) * 1e6) / PROBE;
  if (queue.queued !== depth) throw new Error(`expected ${depth} still queued, found ${queue.queued}`);
  release!();
  queue.addPeer('b', 1_000_000_000);
  await Promise.all(all);
  return { enqueueNs, dispatchNs };
}

async function main(): Promise<void> {
  const burst: number[] = [];
  const burstWithTimers: number[] = [];
  const floor: number[] = [];
  const steady: number[] = [];
  const steadyWithTimers: number[] = [];
  // One discarded round first: the JIT has to see the hot path before it is worth measuring.
  await steadyStateOpsPerSecond(timerlessClock, THROUGHPUT_REQUESTS);
  await floorOpsPerSecond(THROUGHPUT_REQUESTS);
  for (let round = 0; round < ROUNDS; round += 1) {
    steady.push(await steadyStateOpsPerSecond(timerlessClock, THROUGHPUT_REQUESTS));
    steadyWithTimers.push(await steadyStateOpsPerSecond(realClock, THROUGHPUT_REQUESTS));
    floor.push(await floorOpsPerSecond(THROUGHPUT_REQUESTS));
    burst.push(await burstOpsPerSecond(timerlessClock, THROUGHPUT_REQUESTS));
    burstWithTimers.push(await burstOpsPerSecond(realClock, THROUGHPUT_REQUESTS));
  }
  const scaling: { depth: number; enqueueNs: number; dispatchNs: number }[] = [];
  for (const depth of DEPTHS) {
    const rounds = [];
    for (let round = 0; round < ROUNDS; round += 1) rounds.push(await costAtDepth(depth));
    scaling.push({ depth, enqueueNs: median(rounds.map((r) => r.enqueueNs)), dispatchNs: median(rounds.map((r) => r.dispatchNs)) });
  }
  const result = {
    requests: THROUGHPUT_REQUESTS,
    rounds: ROUNDS,
    steadyStateOpsPerSec: median(steady),
    steadyStateWithTimersOpsPerSec: median(steadyWithTimers),
    floorOpsPerSec: median(floor),
    burstOpsPerSec: median(burst),
    burstWithTimersOpsPerSec: median(burstWithTimers),
    burstVsFloor: median(burst) / median(floor),
    scaling,
    dispatchCost100kVs1k: scaling.at(-1)!.dispatchNs / scaling[0]!.dispatchNs,
    enqueueCost100kVs1k: scaling.at(-1)!.enqueueNs / scaling[0]!.enqueueNs,
  };
  const format = (value: number) => Math.round(value).toLocaleString('en-US');
  console.log(`queue engine, ${THROUGHPUT_REQUESTS.toLocaleString('en-US')} requests, median of ${ROUNDS} rounds`);
  console.table({
    'steady state, 1 k outstanding (timers off)': { 'requests/s': format(result.steadyStateOpsPerSec), 'vs floor': (result.steadyStateOpsPerSec / result.floorOpsPerSec).toFixed(2), 'vs 1 M/s target': (result.steadyStateOpsPerSec / 1e6).toFixed(2) },
    'steady state, 1 k outstanding (real timers)': { 'requests/s': format(result.steadyStateWithTimersOpsPerSec), 'vs floor': (result.steadyStateWithTimersOpsPerSec / result.floorOpsPerSec).toFixed(2), 'vs 1 M/s target': (result.steadyStateWithTimersOpsPerSec / 1e6).toFixed(2) },
    'floor: bare promise FIFO, whole life': { 'requests/s': format(result.floorOpsPerSec), 'vs floor': '1.00' },
    '200 k submitted at once (timers off)': { 'requests/s': format(result.burstOpsPerSec), 'vs floor': result.burstVsFloor.toFixed(2) },
    '200 k submitted at once (real timers)': { 'requests/s': format(result.burstWithTimersOpsPerSec), 'vs floor': (result.burstWithTimersOpsPerSec / result.floorOpsPerSec).toFixed(2) },
  });
  console.log('cost per operation with N requests already waiting (ns, median)');
  console.table(Object.fromEntries(scaling.map((row) => [`${row.depth.toLocaleString('en-US')} waiting`, { enqueue: row.enqueueNs.toFixed(0), dispatch: row.dispatchNs.toFixed(0) }])));
  console.log(`100 k vs 1 k waiting: enqueue ×${result.enqueueCost100kVs1k.toFixed(2)}, dispatch ×${result.dispatchCost100kVs1k.toFixed(2)} (O(1) would be ×1, O(log n) ×1.67)`);
  await mkdir('bench/results', { recursive: true });
  await writeFile('bench/results/queue.json', `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result));
}

await main();
