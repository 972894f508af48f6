import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSignalingServer, type SignalingServer } from '../../signaling-server/server';
import { TestClient } from '../helpers/ws-client';
import { closeAll } from '../helpers/close-all';

/**
 * One abusive client at full speed (its own process and loopback address) while 200 well-behaved
 * requesters keep asking for introductions: their latency stays within 2× of the quiet baseline
 * measured in the same run, and the abuser is cut off with a reason each time it comes back.
 * It lives with the e2e files because those run one at a time: a latency ratio needs a quiet machine.
 */
const WELL_BEHAVED = 200;
const EXITS = 10;
const ROUNDS = 15;
/** Rounds keep going under abuse at least this long, so the abuser's cycles (flood, cut off, back) all fall inside. */
const ABUSE_PHASE_MS = 6000;
const QUIET_PHASE_MS = 3000;
/** Well-behaved means within the per-connection budget (50/s): a round starts at most every 100 ms. */
const ROUND_EVERY_MS = 100;

let server: SignalingServer;
const clients: TestClient[] = [];
let requesters: TestClient[] = [];

beforeAll(async () => {
  server = await startSignalingServer({
    port: 0,
    maxConnectionsPerIp: 1000,
    connectsPerIpPerSecond: 1000,
    messagesPerIpPerSecond: 100_000,
  });
  for (let index = 0; index < EXITS; index += 1) {
    const exit = new TestClient(server.url);
    clients.push(exit);
    await exit.register(true, 1000, 0);
  }
  requesters = Array.from({ length: WELL_BEHAVED }, () => new TestClient(server.url));
  clients.push(...requesters);
  await Promise.all(requesters.map((requester) => requester.register(false)));
}, 60_000);

afterAll(async () => {
  for (const client of clients) client.socket.terminate();
  await closeAll(server);
});

/** Each round, every requester asks once at the same moment; returns each round's median latency (ms). */
async function introductionRounds(minimumMs = 0): Promise<number[]> {
  const medians: number[] = [];
  const until = performance.now() + minimumMs;
  for (let round = 0; round < ROUNDS || performance.now() < until; round += 1) {
    const roundStarted = performance.now();
    const latencies = await Promise.all(
      requesters.map(async (requester) => {
        const started = performance.now();
        requester.send({ type: 'find-exits', count: 3, exclude: [] });
        await requester.next('exits');
        return performance.now() - started;
      }),
    );
    latencies.sort((a, b) => a - b);
    medians.push(latencies[Math.floor(latencies.length / 2)]!);
    const pause = ROUND_EVERY_MS - (performance.now() - roundStarted);
    if (pause > 0) await new Promise((resolve) => setTimeout(resolve, pause));
  }
  return medians;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

describe('an abusive client', () => {
  it('is cut off again and again while 200 others keep their introduction latency within 2x of quiet', async () => {
    await introductionRounds(); // warm up
    const quietRounds = await introductionRounds(QUIET_PHASE_MS);
    const quiet = median(quietRounds);
    // This loopback address gets the default per-address limits, unlike the well-behaved crowd.
    const abuser = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/helpers/flooder.ts', server.url, '127.0.0.66', '20'],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let report = '';
    abuser.stdout.on('data', (chunk: Buffer) => {
      report += chunk.toString();
    });
    const abuserDone = new Promise<void>((resolve) => abuser.once('exit', () => resolve()));
    try {
      // Until the flood is in full swing: the server has cut the abuser off at least once.
      await expect
        .poll(
          async () =>
            (await (await fetch(`${server.url.replace(/^ws/, 'http')}/metrics`)).text()).match(
              /rejects_total\{reason="(rate_limited|bad_message)"\} (\d+)/,
            )?.[2] ?? '0',
          { timeout: 10_000 },
        )
        .not.toBe('0');
      const abusedRounds = await introductionRounds(ABUSE_PHASE_MS);
      const underAbuse = median(abusedRounds);
      console.info(
        `introduction latency, median of round medians (${quietRounds.length} quiet, ${abusedRounds.length} under abuse) × ${WELL_BEHAVED} requesters: quiet ${quiet.toFixed(2)} ms, under abuse ${underAbuse.toFixed(2)} ms (×${(underAbuse / quiet).toFixed(2)})`,
      );
      expect(underAbuse).toBeLessThanOrEqual(2 * quiet);
    } finally {
      abuser.kill('SIGTERM');
      await abuserDone;
    }
    const metrics = await (await fetch(`${server.url.replace(/^ws/, 'http')}/metrics`)).text();
    console.info(
      `abuser: ${report.trim()}; rejects: ${metrics
        .split('\n')
        .filter((line) => line.startsWith('peerlane_signaling_rejects_total'))
        .join(', ')}`,
    );
    // Cut off again and again, then refused at the door: more than one connection's worth of rejects.
    const rejects = [...metrics.matchAll(/peerlane_signaling_rejects_total\{reason="[a-z_]+"\} (\d+)/g)].reduce(
      (sum, match) => sum + Number(match[1]),
      0,
    );
    expect(rejects).toBeGreaterThan(20);
  }, 90_000);
});
