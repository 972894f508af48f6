import { spawnSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Clock } from '../extension/core/clock';
import { RequestQueue, type Execution } from '../extension/core/queue/request-queue';

/**
 * `npm run bench:queue`: the queue engine alone, in Node.
 * 1. Enqueue + dispatch throughput (the 1 M ops/s target), and the whole life of a request
 *    at steady state, beside a floor measured in the same run (bare promises through an array FIFO);
 *    with timers off (the engine's own cost) and real timers (what the extension pays).
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
const OPTIONS = {
  maxQueued: 10_000_000,
  maxQueuedBytes: Number.MAX_SAFE_INTEGER,
  perPeerConcurrency: 1_000_000_000,
  hedging: false,
  warmupMs: 0,
};

/**
 * Steady state, as in the extension: a producer keeps WINDOW requests outstanding against peers with
 * real per-peer limits (4 exits × 6); each answer frees a slot for the next waiting request. One
 * operation = one request admitted, dispatched, answered and released.
 */
const WINDOW = 1_000;
async function steadyStateOpsPerSecond(clock: Clock, count: number): Promise<number> {
  const queue = new RequestQueue<number, number>(async () => settledAtOnce, clock, {
    ...OPTIONS,
    perPeerConcurrency: 6,
  });
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

/**
 * The measure, enqueue + dispatch: batches of BATCH requests submitted while peers have
 * credit, so each submit() returns after its request was admitted, queued, given a peer and handed
 * to the executor. Only the submit calls are timed; answering and releasing a batch (the whole-life
 * row above covers that path) happen between timed regions.
 */
const BATCH = 1_000;
async function enqueueDispatchOpsPerSecond(clock: Clock, count: number): Promise<number> {
  let answer: (() => void)[] = [];
  const queue = new RequestQueue<number, number>(
    () => new Promise<Execution<number>>((resolve) => answer.push(() => resolve(settledAtOnce))),
    clock,
    { ...OPTIONS, perPeerConcurrency: BATCH },
  );
  for (const peer of ['a', 'b', 'c', 'd']) queue.addPeer(peer, BATCH);
  let timedMs = 0;
  for (let done = 0; done < count; done += BATCH) {
    const batch = new Array<Promise<number>>(BATCH);
    const started = performance.now();
    for (let index = 0; index < BATCH; index += 1) batch[index] = queue.submit(index, { idempotent: true });
    timedMs += performance.now() - started;
    if (queue.attemptsRunning !== BATCH)
      throw new Error(`expected ${BATCH} dispatched, found ${queue.attemptsRunning}`);
    const pending = answer;
    answer = [];
    for (const reply of pending) reply();
    await Promise.all(batch);
    while (attemptsRunning(queue) > 0) await new Promise((resolve) => setImmediate(resolve));
  }
  return count / (timedMs / 1000);
}

/** Read through a call: the loop above narrowed the getter's value to the batch size it checked. */
const attemptsRunning = (queue: { attemptsRunning: number }): number => queue.attemptsRunning;

/** The floor: a FIFO of promises resolved by a consumer, nothing else. */
async function floorOpsPerSecond(count: number): Promise<number> {
  const fifo: (() => void)[] = [];
  const started = performance.now();
  const pending = new Array<Promise<void>>(count);
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
  for (let index = 0; index < depth; index += 1)
    all.push(queue.submit(index, { priority: index % 3 === 0 ? 'background' : 'interactive' }));
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

/** What one child process measures; each runs alone so the JIT sees only that workload. */
const MEASURES: Record<string, () => Promise<number | { enqueueNs: number; dispatchNs: number }>> = {
  enqueueDispatch: () => enqueueDispatchOpsPerSecond(timerlessClock, THROUGHPUT_REQUESTS),
  enqueueDispatchTimers: () => enqueueDispatchOpsPerSecond(realClock, THROUGHPUT_REQUESTS),
  steady: () => steadyStateOpsPerSecond(timerlessClock, THROUGHPUT_REQUESTS),
  steadyTimers: () => steadyStateOpsPerSecond(realClock, THROUGHPUT_REQUESTS),
  floor: () => floorOpsPerSecond(THROUGHPUT_REQUESTS),
  ...Object.fromEntries(DEPTHS.map((depth) => [`depth${depth}`, () => costAtDepth(depth)])),
};
const WARMUP_ROUNDS = 4;

/** Child: warm up, measure once, print the result as JSON. */
async function measureOne(name: string): Promise<void> {
  const measure = MEASURES[name];
  if (!measure) throw new Error(`unknown measure ${name}`);
  for (let round = 0; round < WARMUP_ROUNDS; round += 1) await measure();
  process.stdout.write(`${JSON.stringify(await measure())}\n`);
  // Real-timer rounds leave request timeouts armed; they are not part of the measure.
  process.exit(0);
}

function runChild(name: string): unknown {
  const child = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--measure', name], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  if (child.status !== 0) throw new Error(`measure ${name} failed: ${child.stderr}`);
  return JSON.parse(child.stdout.trim().split('\n').at(-1)!);
}

async function main(): Promise<void> {
  const names = ['enqueueDispatch', 'enqueueDispatchTimers', 'steady', 'steadyTimers', 'floor'] as const;
  const rows = Object.fromEntries(names.map((name) => [name, [] as number[]])) as Record<
    (typeof names)[number],
    number[]
  >;
  const depthRows = new Map<number, { enqueueNs: number; dispatchNs: number }[]>(DEPTHS.map((depth) => [depth, []]));
  // Rounds alternate between measures, each in a fresh process, so machine noise spreads evenly.
  for (let round = 0; round < ROUNDS; round += 1) {
    for (const name of names) rows[name].push(runChild(name) as number);
    for (const depth of DEPTHS)
      depthRows.get(depth)!.push(runChild(`depth${depth}`) as { enqueueNs: number; dispatchNs: number });
  }
  const scaling = DEPTHS.map((depth) => {
    const rounds = depthRows.get(depth)!;
    return {
      depth,
      enqueueNs: median(rounds.map((r) => r.enqueueNs)),
      dispatchNs: median(rounds.map((r) => r.dispatchNs)),
    };
  });
  const floor = median(rows.floor);
  const result = {
    requests: THROUGHPUT_REQUESTS,
    rounds: ROUNDS,
    enqueueDispatchOpsPerSec: median(rows.enqueueDispatch),
    enqueueDispatchWithTimersOpsPerSec: median(rows.enqueueDispatchTimers),
    steadyStateOpsPerSec: median(rows.steady),
    steadyStateWithTimersOpsPerSec: median(rows.steadyTimers),
    floorOpsPerSec: floor,
    scaling,
    dispatchCost100kVs1k: scaling.at(-1)!.dispatchNs / scaling[0]!.dispatchNs,
    enqueueCost100kVs1k: scaling.at(-1)!.enqueueNs / scaling[0]!.enqueueNs,
  };
  const format = (value: number) => Math.round(value).toLocaleString('en-US');
  const row = (value: number, target = false) => ({
    'per second': format(value),
    'vs floor': (value / floor).toFixed(2),
    'vs 1 M/s target': target ? (value / 1e6).toFixed(2) : '',
  });
  console.log(
    `queue engine, ${THROUGHPUT_REQUESTS.toLocaleString('en-US')} requests per round, median of ${ROUNDS} rounds, each in a fresh process after ${WARMUP_ROUNDS} warm-up rounds`,
  );
  console.table({
    'enqueue + dispatch (timers off)': row(result.enqueueDispatchOpsPerSec, true),
    'enqueue + dispatch (real timers)': row(result.enqueueDispatchWithTimersOpsPerSec, true),
    'whole life, 1 k outstanding, 4 exits × 6 (timers off)': row(result.steadyStateOpsPerSec),
    'whole life, 1 k outstanding, 4 exits × 6 (real timers)': row(result.steadyStateWithTimersOpsPerSec),
    'floor: bare promise FIFO, whole life': row(floor),
  });
  console.log('cost per operation with N requests already waiting (ns, median)');
  console.table(
    Object.fromEntries(
      scaling.map((entry) => [
        `${entry.depth.toLocaleString('en-US')} waiting`,
        { enqueue: entry.enqueueNs.toFixed(0), dispatch: entry.dispatchNs.toFixed(0) },
      ]),
    ),
  );
  console.log(
    `100 k vs 1 k waiting: enqueue ×${result.enqueueCost100kVs1k.toFixed(2)}, dispatch ×${result.dispatchCost100kVs1k.toFixed(2)} (O(1) would be ×1, O(log n) ×1.67)`,
  );
  await mkdir('bench/results', { recursive: true });
  await writeFile('bench/results/queue.json', `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result));
}

const measureIndex = process.argv.indexOf('--measure');
if (measureIndex >= 0) await measureOne(process.argv[measureIndex + 1] ?? '');
else await main();
