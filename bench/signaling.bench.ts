import { textOf } from '../signaling-server/peer';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { WebSocket } from 'ws';
import { outputMatch } from '../test/helpers/child-output';
import { freePort, startRedis, startRedisCluster } from '../test/helpers/redis';
import { SigningIdentity } from '../test/helpers/signing-identity';

/**
 * `npm run bench:signaling`: Peerlane's signaling server (compiled, as `npm start` runs it) beside a
 * bare `ws` echo server and PeerJS's server (npm `peer`), measured in the same run on loopback, with
 * simulated peers in separate load processes (bench/signaling-load.ts). Servers are pinned to the
 * first core and the load to the others (taskset); on a machine with few cores the load processes
 * cannot keep a whole core of server busy (measured: Peerlane 73 % idle while the loaders were
 * saturated), so each server also runs in its own cgroup capped at SERVER_CPU_SHARE of a core (cgroup
 * v1 `cpu.cfs_quota_us`, root only; without it the bench says the figures measure the load instead):
 * - memory: 10,000 idle ready connections; RSS growth per connection against the bare server and PeerJS;
 * - relay: 200 pairs bouncing a trickled ICE candidate, then an SDP offer, in closed loops, Peerlane
 *   against PeerJS (Peerlane's pairs introduced first, as the product does; PeerJS relays to any id);
 * - a burst of 1,000 connections at once: when each was ready (Peerlane: registered with a verified
 *   signature; PeerJS: `OPEN`), p99;
 * - introductions per second on one node vs echoed messages per second (one introduction is one
 *   message in and one out), and on two nodes over Redis, and over a Redis Cluster, vs one node.
 * Rounds alternate the order; medians are reported. Every load process is bounded in count and time.
 * Sections can be picked: `npm run bench:signaling -- relay burst` (memory, relay, burst, intro; default all).
 */
const IDLE_PEERS = 10_000;
const LOADERS = 4;
const BUSY_CONNECTIONS = 100; // per loader
const RELAY_PAIRS = 50; // per loader
const BURST = 1000;
const EXITS = 20;
const SECONDS = 5;
const ROUNDS = Number(process.env.PEERLANE_BENCH_ROUNDS ?? 3);
const SECTIONS = ['memory', 'relay', 'burst', 'intro'] as const;
type Section = (typeof SECTIONS)[number];
const picked = process.argv.slice(2).filter((arg): arg is Section => (SECTIONS as readonly string[]).includes(arg));
const unknownSections = process.argv.slice(2).filter((arg) => !(SECTIONS as readonly string[]).includes(arg));
if (unknownSections.length > 0)
  throw new Error(`unknown bench section ${unknownSections.join(', ')}: pick from ${SECTIONS.join(', ')}`);
const runs = (section: Section): boolean => picked.length === 0 || picked.includes(section);
// The bench lifts the per-connection message budget (50/s by default) to measure the server, not the limiter.
const NODE_ENV = {
  PEERLANE_MESSAGES_PER_SECOND: '1000000',
  PEERLANE_MESSAGES_PER_IP_PER_SECOND: '10000000',
  PEERLANE_CONNECTS_PER_IP_PER_SECOND: '10000',
  LOG_LEVEL: 'warn',
  PEERLANE_QUIET: '1',
};
/** PEERLANE_SIGNALING_SERVER: another build of the server (an A/B of two commits). */
const COMPILED_SERVER = process.env.PEERLANE_SIGNALING_SERVER ?? 'dist/signaling-server/main.js';
const cores = (await readFile('/proc/cpuinfo', 'utf8'))
  .split('\n')
  .filter((line) => line.startsWith('processor')).length;
const SERVER_CORES = '0';
/** The fraction of its core a server may use, so the server, not the load generator, is the bottleneck. */
const SERVER_CPU_SHARE = 0.2;
const CGROUP_ROOT = '/sys/fs/cgroup/cpu';

/** A capped cgroup of its own for one server (two nodes get two shares); null when this machine or user cannot. */
async function makeServerCgroup(name: string): Promise<string | null> {
  const path = `${CGROUP_ROOT}/peerlane-bench-${process.pid}-${name}`;
  try {
    await mkdir(path);
    const period = Number(await readFile(`${path}/cpu.cfs_period_us`, 'utf8'));
    await writeFile(`${path}/cpu.cfs_quota_us`, String(Math.round(period * SERVER_CPU_SHARE)));
    return path;
  } catch {
    return null;
  }
}
const probe = await makeServerCgroup('probe');
const capped = probe !== null;
if (probe) await rmdir(probe);
const LOAD_CORES = cores > 1 ? `1-${cores - 1}` : '0';

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;

type Dialect = 'bare' | 'peerlane' | 'peerjs';

interface Loader {
  child: ChildProcess;
  result: Promise<Record<string, number | string>>;
}

function startLoader(
  mode: 'idle' | 'intro' | 'echo' | 'relay' | 'burst',
  dialect: Dialect,
  url: string,
  count: number,
  addressBase: number,
  payload = 'ice',
): Loader {
  const child = spawn(
    'taskset',
    [
      '-c',
      LOAD_CORES,
      process.execPath,
      '--import',
      'tsx',
      'bench/signaling-load.ts',
      mode,
      dialect,
      url,
      String(count),
      String(addressBase),
      String(SECONDS),
      payload,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const result = new Promise<Record<string, number | string>>((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const line = output
        .split('\n')
        .slice(0, -1)
        .find((candidate) => candidate.startsWith('{'));
      if (line) {
        const parsed = JSON.parse(line) as Record<string, number | string>;
        if (parsed.error) reject(new Error(String(parsed.error)));
        else resolve(parsed);
      }
    });
    child.once('exit', (code) => reject(new Error(`load process exited with ${code} before reporting`)));
  });
  return { child, result };
}

async function stopLoaders(loaders: Loader[]): Promise<void> {
  await Promise.all(
    loaders.map(
      (loader) =>
        new Promise<void>((resolve) => {
          if (loader.child.exitCode !== null) return resolve();
          loader.child.once('exit', () => resolve());
          loader.child.stdin!.write('stop\n');
        }),
    ),
  );
}

interface Server {
  port: number;
  url: string;
  rss(): Promise<number>;
  kill(): Promise<void>;
}

/** A server process pinned to the server core; ready when it prints `ready` (a line matching it). */
async function startServer(args: string[], ready: RegExp, env: Record<string, string> = {}): Promise<Server> {
  const port = await freePort();
  const child = spawn(
    'taskset',
    ['-c', SERVER_CORES, process.execPath, ...args.map((arg) => arg.replace('{port}', String(port)))],
    { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env, PEERLANE_PORT: String(port) } },
  );
  const cgroup = capped ? await makeServerCgroup(String(port)) : null;
  if (cgroup) await writeFile(`${cgroup}/cgroup.procs`, String(child.pid));
  await outputMatch(child, ready, `server ${args.join(' ')}`);
  return {
    port,
    url: `ws://127.0.0.1:${port}`,
    // VmRSS of the process itself (taskset execs it), the same reading for every server.
    rss: async () =>
      Number(/VmRSS:\s+(\d+) kB/.exec(await readFile(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? NaN) * 1024,
    kill: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGKILL');
        await exited;
      }
      if (cgroup) await rmdir(cgroup).catch(() => undefined);
    },
  };
}

const startPeerlane = (env: Record<string, string> = {}): Promise<Server> =>
  startServer([COMPILED_SERVER], /PEERLANE_URL=/, { ...NODE_ENV, PEERLANE_PRINT_URL: '1', ...env });
const startBare = (): Promise<Server> =>
  startServer(['--import', 'tsx', 'bench/bare-echo-server.ts', '{port}'], /listening/);
const startPeerJs = (): Promise<Server> =>
  startServer(['--import', 'tsx', 'bench/peerjs-server.ts', '{port}'], /listening/);

/** Registered exits with room, refreshed so they never age out during the bench. */
async function registerExits(urls: string[]): Promise<() => void> {
  const sockets = await Promise.all(
    Array.from(
      { length: EXITS },
      (_, index) =>
        new Promise<WebSocket>((resolve, reject) => {
          const url = urls[index % urls.length]!;
          const socket = new WebSocket(url, { localAddress: `127.200.0.${1 + index}` });
          socket.once('message', (raw) => {
            const { nonce } = JSON.parse(textOf(raw)) as { nonce: string };
            socket.send(
              new SigningIdentity().register(new URL(url).host, nonce, { exit: true, capacity: 1000, load: 0 }),
            );
            resolve(socket);
          });
          socket.once('error', reject);
        }),
    ),
  );
  const refresh = setInterval(() => {
    for (const socket of sockets)
      socket.send(JSON.stringify({ type: 'update', exit: true, capacity: 1000, load: 0, nat: 'unknown' }));
  }, 3000);
  return () => {
    clearInterval(refresh);
    for (const socket of sockets) socket.terminate();
  };
}

async function rate(
  mode: 'intro' | 'echo' | 'relay',
  dialect: Dialect,
  urls: string[],
  perLoader: number,
  payload = 'ice',
): Promise<number> {
  const loaders = Array.from({ length: LOADERS }, (_, index) =>
    startLoader(mode, dialect, urls[index % urls.length]!, perLoader, 10 + index, payload),
  );
  if (mode === 'relay') {
    // Pairs are made first (registrations, introductions); then every loader starts its window at once.
    await Promise.all(
      loaders.map(
        (loader) =>
          new Promise<void>((resolve, reject) => {
            let output = '';
            loader.child.stdout!.on('data', (chunk: Buffer) => {
              output += chunk.toString();
              if (output.includes('set-up\n')) resolve();
            });
            loader.result.catch(reject);
          }),
      ),
    );
    for (const loader of loaders) loader.child.stdin!.write('go\n');
  }
  const results = await Promise.all(loaders.map((loader) => loader.result));
  return results.reduce((sum, result) => sum + Number(result.perSecond ?? 0), 0);
}

/** RSS growth per idle ready connection, on a fresh server. */
async function idlePerConnection(
  start: () => Promise<Server>,
  dialect: Dialect,
): Promise<{ perConnectionKB: number; rssMB: number; baselineMB: number }> {
  console.error(`  memory: ${dialect}`);
  const server = await start();
  try {
    const before = await server.rss();
    const loaders = Array.from({ length: LOADERS }, (_, index) =>
      startLoader('idle', dialect, server.url, IDLE_PEERS / LOADERS, 100 + index),
    );
    await Promise.all(loaders.map((loader) => loader.result));
    await new Promise((resolve) => setTimeout(resolve, 1000)); // let allocation settle before sampling
    const after = await server.rss();
    await stopLoaders(loaders);
    return {
      perConnectionKB: (after - before) / IDLE_PEERS / 1024,
      rssMB: after / 1024 / 1024,
      baselineMB: before / 1024 / 1024,
    };
  } finally {
    await server.kill();
  }
}

/** A burst of BURST connections at once on a fresh server: p99 of the time to ready across all loaders. */
async function burstP99(start: () => Promise<Server>, dialect: Dialect): Promise<number> {
  console.error(`  burst: ${dialect}`);
  const server = await start();
  try {
    const loaders = Array.from({ length: LOADERS }, (_, index) =>
      startLoader('burst', dialect, server.url, BURST / LOADERS, 150 + index),
    );
    const results = await Promise.all(loaders.map((loader) => loader.result));
    const times = results.flatMap((result) => JSON.parse(String(result.times)) as number[]).sort((a, b) => a - b);
    return times[Math.floor(0.99 * times.length)] ?? NaN;
  } finally {
    await server.kill();
  }
}

/** Introductions: the echo floor, one node, two nodes over Redis, two over a Redis Cluster. */
async function introductions(samples: {
  echo: number[];
  one: number[];
  two: number[];
  cluster: number[];
}): Promise<void> {
  const redis = await startRedis();
  const cluster = await startRedisCluster(3);
  const clusterNodes = cluster.nodes.map((node) => `${node.host}:${node.port}`).join(',');
  const echo = await startBare();
  const single = await startPeerlane();
  const pair = [await startPeerlane({ REDIS_URL: redis.url }), await startPeerlane({ REDIS_URL: redis.url })];
  const clusterPair = [
    await startPeerlane({ REDIS_CLUSTER_NODES: clusterNodes }),
    await startPeerlane({ REDIS_CLUSTER_NODES: clusterNodes }),
  ];
  const stopExits = [
    await registerExits([single.url]),
    await registerExits(pair.map((node) => node.url)),
    await registerExits(clusterPair.map((node) => node.url)),
  ];
  try {
    for (let round = 0; round < ROUNDS; round += 1) {
      const order =
        round % 2 === 0 ? (['echo', 'one', 'two', 'cluster'] as const) : (['cluster', 'two', 'one', 'echo'] as const);
      for (const kind of order) {
        if (kind === 'echo') samples.echo.push(await rate('echo', 'bare', [echo.url], BUSY_CONNECTIONS));
        if (kind === 'one') samples.one.push(await rate('intro', 'peerlane', [single.url], BUSY_CONNECTIONS));
        if (kind === 'two')
          samples.two.push(
            await rate(
              'intro',
              'peerlane',
              pair.map((node) => node.url),
              BUSY_CONNECTIONS,
            ),
          );
        if (kind === 'cluster')
          samples.cluster.push(
            await rate(
              'intro',
              'peerlane',
              clusterPair.map((node) => node.url),
              BUSY_CONNECTIONS,
            ),
          );
      }
      console.error(
        `round ${round + 1}/${ROUNDS}: echo ${samples.echo.at(-1)!.toFixed(0)}/s · one node ${samples.one.at(-1)!.toFixed(0)}/s · two nodes ${samples.two.at(-1)!.toFixed(0)}/s · two nodes on a cluster ${samples.cluster.at(-1)!.toFixed(0)}/s`,
      );
    }
  } finally {
    for (const stop of stopExits) stop();
    for (const server of [echo, single, ...pair, ...clusterPair]) await server.kill();
    await redis.stop();
    await cluster.stop();
  }
}

async function main(): Promise<void> {
  if (!existsSync(COMPILED_SERVER)) throw new Error(`${COMPILED_SERVER} is missing: run npm run build first`);
  const samples = {
    memoryPeerlane: [] as number[],
    memoryPeerJs: [] as number[],
    memoryBare: [] as number[],
    baselinePeerlane: [] as number[],
    baselinePeerJs: [] as number[],
    relayIcePeerlane: [] as number[],
    relayIcePeerJs: [] as number[],
    relaySdpPeerlane: [] as number[],
    relaySdpPeerJs: [] as number[],
    burstPeerlane: [] as number[],
    burstPeerJs: [] as number[],
    echo: [] as number[],
    one: [] as number[],
    two: [] as number[],
    cluster: [] as number[],
  };

  // ── Peerlane against PeerJS (and the bare floor for memory): rounds alternate which goes first ──
  for (let round = 0; round < ROUNDS; round += 1) {
    const ours = round % 2 === 0;
    const pairOrder = (a: Dialect, b: Dialect): Dialect[] => (ours ? [a, b] : [b, a]);
    for (const which of runs('memory') ? pairOrder('peerlane', 'peerjs') : []) {
      const memory = await idlePerConnection(which === 'peerlane' ? startPeerlane : startPeerJs, which);
      (which === 'peerlane' ? samples.memoryPeerlane : samples.memoryPeerJs).push(memory.perConnectionKB);
      (which === 'peerlane' ? samples.baselinePeerlane : samples.baselinePeerJs).push(memory.baselineMB);
    }
    if (round === 0 && runs('memory'))
      samples.memoryBare.push((await idlePerConnection(startBare, 'bare')).perConnectionKB);
    for (const which of runs('relay') ? pairOrder('peerlane', 'peerjs') : []) {
      console.error(`  relay: ${which}`);
      const server = await (which === 'peerlane' ? startPeerlane() : startPeerJs());
      try {
        const ice = await rate('relay', which, [server.url], RELAY_PAIRS, 'ice');
        const sdp = await rate('relay', which, [server.url], RELAY_PAIRS, 'sdp');
        if (which === 'peerlane') {
          samples.relayIcePeerlane.push(ice);
          samples.relaySdpPeerlane.push(sdp);
        } else {
          samples.relayIcePeerJs.push(ice);
          samples.relaySdpPeerJs.push(sdp);
        }
      } finally {
        await server.kill();
      }
    }
    for (const which of runs('burst') ? pairOrder('peerlane', 'peerjs') : []) {
      const p99 = await burstP99(which === 'peerlane' ? startPeerlane : startPeerJs, which);
      (which === 'peerlane' ? samples.burstPeerlane : samples.burstPeerJs).push(p99);
    }
    const last = (values: number[], digits = 0): string => values.at(-1)?.toFixed(digits) ?? '–';
    console.error(
      `round ${round + 1}/${ROUNDS}: per idle connection ${last(samples.memoryPeerlane, 1)} vs PeerJS ${last(samples.memoryPeerJs, 1)} KB · ` +
        `ICE relayed ${last(samples.relayIcePeerlane)} vs ${last(samples.relayIcePeerJs)}/s · SDP ${last(samples.relaySdpPeerlane)} vs ${last(samples.relaySdpPeerJs)}/s · ` +
        `burst p99 ${last(samples.burstPeerlane)} vs ${last(samples.burstPeerJs)} ms`,
    );
  }

  // ── introductions: echo floor, one node, two nodes over Redis, two over a Redis Cluster ──
  if (runs('intro')) await introductions(samples);
  const m = Object.fromEntries(Object.entries(samples).map(([key, values]) => [key, median(values)])) as Record<
    keyof typeof samples,
    number
  >;
  const result = {
    date: new Date().toISOString(),
    cores,
    serverCores: SERVER_CORES,
    serverCpuShare: capped ? SERVER_CPU_SHARE : 1,
    loadCores: LOAD_CORES,
    idlePeers: IDLE_PEERS,
    relayPairs: RELAY_PAIRS * LOADERS,
    burst: BURST,
    medians: m,
    samples,
  };
  const row = (name: string, value: string, note: string): string => `${name.padEnd(46)}${value.padStart(14)}  ${note}`;
  const ratio = (value: number): string => `×${value.toFixed(2)}`;
  console.log(
    `\nPeerlane signaling bench (loopback; servers on core ${SERVER_CORES}${capped ? ` capped at ${SERVER_CPU_SHARE * 100}% of it` : ' (NOT capped: no cgroup, so rates may measure the load processes)'}, ${LOADERS} load processes on ${LOAD_CORES}; medians of ${ROUNDS} rounds)`,
  );
  if (runs('memory'))
    console.log(
      row(
        `memory per idle connection (${IDLE_PEERS})`,
        `${m.memoryPeerlane.toFixed(1)} KB`,
        `PeerJS ${m.memoryPeerJs.toFixed(1)} KB: ${ratio(m.memoryPeerlane / m.memoryPeerJs)} (target ≤ 0.8); bare ws ${m.memoryBare.toFixed(1)} KB`,
      ),
    );
  if (runs('memory'))
    console.log(
      row(
        'baseline RSS (started, no connection)',
        `${m.baselinePeerlane.toFixed(1)} MB`,
        `PeerJS ${m.baselinePeerJs.toFixed(1)} MB: ${ratio(m.baselinePeerlane / m.baselinePeerJs)} (target ≤ 1.1)`,
      ),
    );
  if (runs('relay'))
    console.log(
      row(
        `ICE candidates relayed, ${RELAY_PAIRS * LOADERS} pairs`,
        `${m.relayIcePeerlane.toFixed(0)}/s`,
        `PeerJS ${m.relayIcePeerJs.toFixed(0)}/s: ${ratio(m.relayIcePeerlane / m.relayIcePeerJs)} (target ≥ 1.2)`,
      ),
    );
  if (runs('relay'))
    console.log(
      row(
        `SDP offers relayed, ${RELAY_PAIRS * LOADERS} pairs`,
        `${m.relaySdpPeerlane.toFixed(0)}/s`,
        `PeerJS ${m.relaySdpPeerJs.toFixed(0)}/s: ${ratio(m.relaySdpPeerlane / m.relaySdpPeerJs)} (target ≥ 1.2)`,
      ),
    );
  if (runs('burst'))
    console.log(
      row(
        `burst of ${BURST} connects, ready at p99`,
        `${m.burstPeerlane.toFixed(0)} ms`,
        `PeerJS ${m.burstPeerJs.toFixed(0)} ms: ${ratio(m.burstPeerlane / m.burstPeerJs)} (target ≤ 1; ours verifies a signature each)`,
      ),
    );
  if (runs('intro'))
    console.log(
      row(
        'bare ws echo, messages echoed per second',
        `${m.echo.toFixed(0)}/s`,
        'floor: one introduction = one message in, one out',
      ),
    );
  if (runs('intro'))
    console.log(
      row(
        'introductions per second, one node',
        `${m.one.toFixed(0)}/s`,
        `${((m.one / m.echo) * 100).toFixed(0)}% of the echo rate (target ≥ 50%)`,
      ),
    );
  if (runs('intro'))
    console.log(
      row(
        'introductions per second, two nodes + Redis',
        `${m.two.toFixed(0)}/s`,
        `${((m.two / m.one) * 100).toFixed(0)}% of one node (target ≥ 80%)`,
      ),
    );
  if (runs('intro'))
    console.log(
      row(
        '  two nodes + Redis Cluster (3 masters)',
        `${m.cluster.toFixed(0)}/s`,
        `${((m.cluster / m.one) * 100).toFixed(0)}% of one node (target ≥ 80%)`,
      ),
    );
  await mkdir('bench/results', { recursive: true });
  const file = `bench/results/signaling-${result.date.replace(/[:.]/g, '-')}.json`;
  await writeFile(file, JSON.stringify(result, null, 2));
  console.log(`\nwrote ${file}`);
}

await main();
