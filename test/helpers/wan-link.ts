import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { outputMatch } from './child-output';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { namespaceWrapper } from './netns';

/**
 * An emulated network path between two network namespaces (root only; everything is made here and
 * removed by `close`, nothing leaves the machine): `near` (the requester's side) and `far` (the
 * exit's side), joined only by a TUN device in each and a user-space forwarder that behaves as a
 * bottleneck link in each direction: a rate, a router's drop-tail queue, a one-way delay and random
 * loss (`wan-forwarder.py`; this kernel has no netem qdisc).
 *
 *   near 10.77.0.1 ── wan0 ═══ forwarder (rate, queue, delay, loss) ═══ wan0 ── far 10.77.0.2
 *
 * The rate matters: measured here, a path with delay but no rate delivers a sender's whole window in
 * one burst, the receiving browser's UDP socket buffer (212 KB by default) overflows and drops about
 * 9 % of the packets (UdpRcvbufErrors), and SCTP's congestion control then measures the emulator.
 */
const FORWARDER = resolve('test/helpers/wan-forwarder.py');
const PORT_RELAY = resolve('test/helpers/ns-port-relay.py');
export const NEAR_ADDRESS = '10.77.0.1';
export const FAR_ADDRESS = '10.77.0.2';

export interface WanPath {
  /** One way; the round trip is twice this (plus serialisation and the forwarder's own microseconds). */
  oneWayDelayMs: number;
  /** Fraction of packets dropped in each direction, 0 to 1. */
  loss: number;
  /** The bottleneck's rate in each direction, Mbit/s (default 50: a common broadband line; at 100 the receiving browser on this 2-core machine drops 4 % in its UDP socket). */
  rateMbit?: number;
  /** The router's buffer in front of the bottleneck, in milliseconds of its rate (default 50). */
  queueMs?: number;
}

export const DEFAULT_RATE_MBIT = 50;
export const DEFAULT_QUEUE_MS = 50;

export interface WanLink extends WanPath {
  readonly near: string;
  readonly far: string;
  /** An executable that runs `program` inside namespace `ns` (for launchers that take a path). */
  wrapper(ns: string, program: string): Promise<string>;
  /** Runs a command inside `ns`; the link kills it at `close` if it is still running. */
  spawnIn(ns: string, command: string, args: string[], env?: NodeJS.ProcessEnv): ChildProcess;
  /** Makes 127.0.0.1:`port` inside `ns` reachable as 127.0.0.1:`port` here (a driver's socket, ns-port-relay.py). */
  carryPortOut(ns: string, port: number): Promise<void>;
  /** The UDP ports bound to `address` inside `ns`: a browser's ICE sockets on the link, one per peer connection. */
  udpPorts(ns: string, address: string): number[];
  /** Counts the packets each of `ports` sends inside `ns` from now on (which ICE sockets carry a transfer). */
  countUdpPorts(ns: string, ports: readonly number[]): { sent(): Map<number, number>; remove(): void };
  /** Drops every packet to and from local UDP `port` inside `ns` (one peer connection's association stalls) until the returned function runs. */
  stallUdpPort(ns: string, port: number): () => void;
  close(): Promise<void>;
}

const ip = (...args: string[]): void => {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

export async function createWanLink(path: WanPath): Promise<WanLink> {
  if (process.getuid?.() !== 0)
    throw new Error('the emulated link needs root (network namespaces, TUN devices); CI runs as root');
  if (!existsSync(FORWARDER)) throw new Error(`${FORWARDER} is missing`);
  const tag = `plw${process.pid % 10000}${Math.floor(Math.random() * 100)}`;
  const near = `${tag}n`;
  const far = `${tag}f`;
  const scratch = await mkdtemp(join(tmpdir(), 'peerlane-wan-'));
  const children: ChildProcess[] = [];
  const made: string[] = [];
  const close = async (): Promise<void> => {
    for (const child of children.reverse()) {
      if (child.exitCode !== null || child.signalCode !== null) continue;
      const exited = new Promise((done) => child.once('exit', done));
      child.kill('SIGKILL');
      await exited;
    }
    for (const name of made.reverse()) {
      try {
        ip('netns', 'del', name);
      } catch {
        // already gone
      }
    }
    await rm(scratch, { recursive: true, force: true });
  };
  const spawnIn = (ns: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess => {
    const child = spawn('ip', ['netns', 'exec', ns, command, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    children.push(child);
    return child;
  };
  try {
    for (const name of [near, far]) {
      ip('netns', 'add', name);
      made.push(name);
    }
    const args = [
      near,
      far,
      path.oneWayDelayMs,
      path.loss,
      path.rateMbit ?? DEFAULT_RATE_MBIT,
      path.queueMs ?? DEFAULT_QUEUE_MS,
    ].map(String);
    const forwarder = spawn('python3', [FORWARDER, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(forwarder);
    await outputMatch(forwarder, /ready/, 'the link forwarder', 10_000);
    for (const [name, address] of [
      [near, NEAR_ADDRESS],
      [far, FAR_ADDRESS],
    ] as const) {
      ip('-n', name, 'addr', 'add', `${address}/24`, 'dev', 'wan0');
      ip('-n', name, 'link', 'set', 'wan0', 'up');
      // A long device queue: the forwarder's own queue is the path's; the device must not drop while it is busy.
      ip('-n', name, 'link', 'set', 'wan0', 'txqueuelen', '10000');
      ip('-n', name, 'link', 'set', 'lo', 'up');
      // WebRTC gathers host candidates only on interfaces with a route out.
      ip('-n', name, 'route', 'add', 'default', 'dev', 'wan0');
    }
  } catch (error) {
    await close();
    throw new Error(`cannot build the emulated link: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
    });
  }
  const carryPortOut = async (ns: string, port: number): Promise<void> => {
    const relay = spawn('python3', [PORT_RELAY, ns, String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(relay);
    await outputMatch(relay, /^listening$/m, `the relay of port ${port} out of ${ns}`);
  };
  const udpPorts = (ns: string, address: string): number[] => {
    const listing = execFileSync('ip', ['netns', 'exec', ns, 'ss', '-uanH'], { encoding: 'utf8' });
    const ports = listing.split('\n').flatMap((line) => {
      const local = line.trim().split(/\s+/)[3] ?? '';
      return local.startsWith(`${address}:`) ? [Number(local.slice(address.length + 1))] : [];
    });
    return [...new Set(ports)].sort((a, b) => a - b);
  };
  const nft = (ns: string, args: string[], input?: string): string =>
    execFileSync('ip', ['netns', 'exec', ns, 'nft', ...args], {
      input,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  const countUdpPorts = (ns: string, ports: readonly number[]): { sent(): Map<number, number>; remove(): void } => {
    const table = `peerlane_count_${process.pid}`;
    const rules = [
      `table inet ${table} {`,
      '  chain outbound { type filter hook output priority 0;',
      ...ports.map((port) => `    udp sport ${port} counter;`),
      '  }',
      '}',
    ].join('\n');
    nft(ns, ['-f', '-'], rules);
    return {
      sent: () => {
        const listed = JSON.parse(nft(ns, ['-j', 'list', 'table', 'inet', table])) as {
          nftables: { rule?: { expr: { match?: { right: number }; counter?: { packets: number } }[] } }[];
        };
        const counts = new Map<number, number>();
        for (const { rule } of listed.nftables) {
          const port = rule?.expr.find((expr) => expr.match)?.match?.right;
          const packets = rule?.expr.find((expr) => expr.counter)?.counter?.packets;
          if (port !== undefined && packets !== undefined) counts.set(port, packets);
        }
        return counts;
      },
      remove: () => void nft(ns, ['delete', 'table', 'inet', table]),
    };
  };
  const stallUdpPort = (ns: string, port: number): (() => void) => {
    const table = `peerlane_stall_${port}`;
    const rules = [
      `table inet ${table} {`,
      `  chain inbound { type filter hook input priority 0; udp dport ${port} drop; }`,
      `  chain outbound { type filter hook output priority 0; udp sport ${port} drop; }`,
      '}',
    ].join('\n');
    execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: rules, stdio: ['pipe', 'ignore', 'pipe'] });
    // The namespace's removal at `close` takes the table with it if this never runs.
    return () =>
      execFileSync('ip', ['netns', 'exec', ns, 'nft', 'delete', 'table', 'inet', table], {
        stdio: ['ignore', 'ignore', 'pipe'],
      });
  };
  return {
    ...path,
    near,
    far,
    wrapper: (ns, program) => namespaceWrapper(scratch, ns, program),
    spawnIn,
    carryPortOut,
    udpPorts,
    countUdpPorts,
    stallUdpPort,
    close,
  };
}
