import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { WebSocket } from 'ws';
import { freePort, startRedis } from '../test/helpers/redis';
import { startSignalingNode, type SignalingNode } from '../test/helpers/signaling-node';

/**
 * `npm run bench:signaling`: the signaling server beside a bare `ws` echo server measured in the same
 * run, on loopback, with simulated peers in separate load processes (bench/signaling-load.ts):
 * - memory: 10,000 idle registered peers, server RSS vs the bare server's RSS with 10,000 idle sockets;
 * - introductions per second on one node vs echoed messages per second (one introduction is one
 *   message in and one out), and on two nodes over Redis vs one node.
 * Rounds alternate; medians are reported. Every load process is bounded in count and time.
 */
const IDLE_PEERS = 10_000;
const LOADERS = 4;
const BUSY_CONNECTIONS = 100; // per loader
const EXITS = 20;
const SECONDS = 5;
const ROUNDS = 3;
// The bench lifts the per-connection message budget (50/s by default) to measure the server, not the limiter.
const NODE_ENV = { PEERLANE_MESSAGES_PER_SECOND: '1000000', PEERLANE_MESSAGES_PER_IP_PER_SECOND: '10000000', LOG_LEVEL: 'warn' };

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

interface Loader {
  child: ChildProcess;
  result: Promise<Record<string, number>>;
}

function startLoader(mode: 'idle' | 'intro' | 'echo', url: string, count: number, addressBase: number): Loader {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/signaling-load.ts', mode, url, String(count), String(addressBase), String(SECONDS)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const result = new Promise<Record<string, number>>((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const line = output.split('\n').find((candidate) => candidate.startsWith('{'));
      if (line) {
        const parsed = JSON.parse(line) as Record<string, number> & { error?: string };
        if (parsed.error) reject(new Error(parsed.error));
        else resolve(parsed);
      }
    });
    child.once('exit', (code) => reject(new Error(`load process exited with ${code} before reporting`)));
  });
  return { child, result };
}

async function stopLoaders(loaders: Loader[]): Promise<void> {
  await Promise.all(loaders.map((loader) => new Promise<void>((resolve) => {
    if (loader.child.exitCode !== null) return resolve();
    loader.child.once('exit', () => resolve());
    loader.child.stdin!.write('stop\n');
  })));
}

async function startBareServer(): Promise<{ port: number; url: string; rss(): Promise<number>; kill(): Promise<void> }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/bare-echo-server.ts', String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    rss: async () => ((await (await fetch(`http://127.0.0.1:${port}/rss`)).json()) as { rss: number }).rss,
    kill: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
  };
}

async function nodeRss(node: SignalingNode): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${node.port}/metrics`)).text();
  return Number(/^peerlane_signaling_process_resident_memory_bytes (\d+)/m.exec(text)?.[1] ?? NaN);
}

/** Registered exits with room, refreshed so they never age out during the bench. */
async function registerExits(urls: string[]): Promise<() => void> {
  const sockets = await Promise.all(Array.from({ length: EXITS }, (_, index) => new Promise<WebSocket>((resolve, reject) => {
    const socket = new WebSocket(urls[index % urls.length]!, { localAddress: `127.200.0.${1 + index}` });
    socket.once('open', () => {
      socket.send(JSON.stringify({ type: 'register', protocol: 1, exit: true, capacity: 1000, load: 0 }));
      resolve(socket);
    });
    socket.once('error', reject);
  })));
  const refresh = setInterval(() => {
    for (const socket of sockets) socket.send(JSON.stringify({ type: 'update', exit: true, capacity: 1000, load: 0 }));
  }, 3000);
  return () => {
    clearInterval(refresh);
    for (const socket of sockets) socket.terminate();
  };
}

async function busyRate(mode: 'intro' | 'echo', urls: string[]): Promise<number> {
  const loaders = Array.from({ length: LOADERS }, (_, index) => startLoader(mode, urls[index % urls.length]!, BUSY_CONNECTIONS, 10 + index));
  const results = await Promise.all(loaders.map((loader) => loader.result));
  return results.reduce((sum, result) => sum + (result.perSecond ?? 0), 0);
}

async function idleRss(url: string, rss: () => Promise<number>): Promise<{ before: number; after: number }> {
  const before = await rss();
  const loaders = Array.from({ length: LOADERS }, (_, index) => startLoader('idle', url, IDLE_PEERS / LOADERS, 100 + index));
  await Promise.all(loaders.map((loader) => loader.result));
  await new Promise((resolve) => setTimeout(resolve, 1000)); // let allocation settle before sampling
  const after = await rss();
  await stopLoaders(loaders);
  return { before, after };
}

async function main(): Promise<void> {
  const MB = 1024 * 1024;
  // ── memory with 10,000 idle peers ──
  const bare = await startBareServer();
  const bareMemory = await idleRss(bare.url, bare.rss);
  await bare.kill();
  const memoryNode = await startSignalingNode(await freePort(), { LOG_LEVEL: 'warn' });
  const ourMemory = await idleRss(memoryNode.url, () => nodeRss(memoryNode));
  await memoryNode.kill();
  console.error(`idle: bare ${(bareMemory.after / MB).toFixed(0)} MB, signaling ${(ourMemory.after / MB).toFixed(0)} MB`);

  // ── throughput: echo floor, one node, two nodes over Redis; rounds alternate ──
  const redis = await startRedis();
  const echo = await startBareServer();
  const single = await startSignalingNode(await freePort(), NODE_ENV);
  const pair = [await startSignalingNode(await freePort(), { ...NODE_ENV, REDIS_URL: redis.url }), await startSignalingNode(await freePort(), { ...NODE_ENV, REDIS_URL: redis.url })];
  const stopSingleExits = await registerExits([single.url]);
  const stopPairExits = await registerExits(pair.map((node) => node.url));
  const samples = { echo: [] as number[], one: [] as number[], two: [] as number[] };
  try {
    for (let round = 0; round < ROUNDS; round += 1) {
      const order: (keyof typeof samples)[] = round % 2 === 0 ? ['echo', 'one', 'two'] : ['two', 'one', 'echo'];
      for (const kind of order) {
        if (kind === 'echo') samples.echo.push(await busyRate('echo', [echo.url]));
        if (kind === 'one') samples.one.push(await busyRate('intro', [single.url]));
        if (kind === 'two') samples.two.push(await busyRate('intro', pair.map((node) => node.url)));
      }
      console.error(`round ${round + 1}/${ROUNDS}: echo ${samples.echo.at(-1)!.toFixed(0)}/s · one node ${samples.one.at(-1)!.toFixed(0)}/s · two nodes ${samples.two.at(-1)!.toFixed(0)}/s`);
    }
  } finally {
    stopSingleExits();
    stopPairExits();
    await echo.kill();
    await single.kill();
    for (const node of pair) await node.kill();
    await redis.stop();
  }

  const result = {
    date: new Date().toISOString(),
    idlePeers: IDLE_PEERS,
    memory: {
      bareRssMB: bareMemory.after / MB,
      signalingRssMB: ourMemory.after / MB,
      ratio: ourMemory.after / bareMemory.after,
      barePerConnectionKB: (bareMemory.after - bareMemory.before) / IDLE_PEERS / 1024,
      signalingPerConnectionKB: (ourMemory.after - ourMemory.before) / IDLE_PEERS / 1024,
    },
    perSecond: { echo: median(samples.echo), oneNode: median(samples.one), twoNodes: median(samples.two), samples },
  };
  const ratioOne = result.perSecond.oneNode / result.perSecond.echo;
  const ratioTwo = result.perSecond.twoNodes / result.perSecond.oneNode;
  const row = (name: string, value: string, note: string): string => `${name.padEnd(44)}${value.padStart(12)}  ${note}`;
  console.log(`\nPeerlane signaling bench (loopback, ${LOADERS} load processes, medians of ${ROUNDS} rounds of ${SECONDS} s)`);
  console.log(row(`RSS, ${IDLE_PEERS} idle registered peers`, `${result.memory.signalingRssMB.toFixed(0)} MB`, `bare ws server ${result.memory.bareRssMB.toFixed(0)} MB: ×${result.memory.ratio.toFixed(2)} (target ≤ 2)`));
  console.log(row('  per connection', `${result.memory.signalingPerConnectionKB.toFixed(1)} KB`, `bare ${result.memory.barePerConnectionKB.toFixed(1)} KB`));
  console.log(row('bare ws echo, messages echoed per second', `${result.perSecond.echo.toFixed(0)}/s`, 'floor: one introduction = one message in, one out'));
  console.log(row('introductions per second, one node', `${result.perSecond.oneNode.toFixed(0)}/s`, `${(ratioOne * 100).toFixed(0)}% of the echo rate (target ≥ 50%)`));
  console.log(row('introductions per second, two nodes + Redis', `${result.perSecond.twoNodes.toFixed(0)}/s`, `${(ratioTwo * 100).toFixed(0)}% of one node (target ≥ 80%)`));
  await mkdir('bench/results', { recursive: true });
  const file = `bench/results/signaling-${result.date.replace(/[:.]/g, '-')}.json`;
  await writeFile(file, JSON.stringify(result, null, 2));
  console.log(`\nwrote ${file}`);
}

await main();
