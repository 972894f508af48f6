import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisTarget } from '../../signaling-server/redis-bus';
import { startSignalingServer, type SignalingServer } from '../../signaling-server/server';
import { startRedis, startRedisCluster } from '../helpers/redis';
import type { SigningIdentity } from '../helpers/signing-identity';
import { TestClient } from '../helpers/ws-client';
import { closeAll } from '../helpers/close-all';

/**
 * Two signaling nodes sharing Debian's redis-server, once as one Redis (pub/sub) and once as a local
 * three-master Redis Cluster (sharded pub/sub), both started here on loopback ports: a requester on
 * node A is introduced to an exit on node B, their signals relay across, departures cross nodes, and
 * a peer that moves to another node keeps its directory entry.
 */
const clients: TestClient[] = [];
const client = (url: string, identity?: SigningIdentity): TestClient => {
  const created = new TestClient(url, {}, identity);
  clients.push(created);
  return created;
};

/** Asks until the directory (reached over Redis) offers what `accept` wants, bounded. */
async function exitsUntil(requester: TestClient, accept: (ids: string[]) => boolean): Promise<string[]> {
  let ids: string[] = [];
  await expect
    .poll(
      async () => {
        requester.send({ type: 'find-exits', count: 3, exclude: [] });
        ids = (await requester.next('exits')).exits.map((exit) => exit.peerId);
        return accept(ids);
      },
      { timeout: 5000 },
    )
    .toBe(true);
  return ids;
}

const KINDS = [
  {
    name: 'one Redis',
    start: async () => {
      const redis = await startRedis();
      return { target: { kind: 'single', url: redis.url } as RedisTarget, stop: redis.stop };
    },
  },
  {
    name: 'a Redis Cluster (three masters, sharded pub/sub)',
    start: async () => {
      const cluster = await startRedisCluster(3);
      return { target: { kind: 'cluster', nodes: cluster.nodes } as RedisTarget, stop: cluster.stop };
    },
  },
];

describe.each(KINDS)('two nodes over $name', ({ start }) => {
  let stopRedis: () => Promise<void>;
  let nodeA: SignalingServer;
  let nodeB: SignalingServer;

  beforeAll(async () => {
    const started = await start();
    stopRedis = started.stop;
    nodeA = await startSignalingServer({ port: 0, redis: started.target, heartbeatMs: 500, drainMs: 1000 });
    nodeB = await startSignalingServer({ port: 0, redis: started.target, heartbeatMs: 500, drainMs: 1000 });
  }, 60_000);

  afterAll(async () => {
    for (const created of clients.splice(0)) created.socket.terminate();
    await closeAll(nodeA, nodeB);
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- unset when beforeAll failed
    await stopRedis?.();
  });

  it('introduces a requester on one node to an exit on the other, and relays signals both ways', async () => {
    expect(nodeA.nodeId).not.toBe(nodeB.nodeId);
    const exit = client(nodeB.url);
    const exitId = await exit.register(true, 6, 0);
    const requester = client(nodeA.url);
    const requesterId = await requester.register(false);
    expect(await exitsUntil(requester, (ids) => ids.includes(exitId))).toEqual([exitId]);

    requester.send({ type: 'signal', to: exitId, data: { type: 'offer', sdp: 'v=0 offer' } });
    expect(await exit.next('signal')).toEqual({
      type: 'signal',
      from: requesterId,
      data: { type: 'offer', sdp: 'v=0 offer' },
    });
    exit.send({ type: 'signal', to: requesterId, data: { type: 'answer', sdp: 'v=0 answer' } });
    expect(await requester.next('signal')).toEqual({
      type: 'signal',
      from: exitId,
      data: { type: 'answer', sdp: 'v=0 answer' },
    });

    // A peer not introduced gets nothing relayed, whichever node it is on.
    const stranger = client(nodeB.url);
    const strangerId = await stranger.register(false);
    stranger.send({ type: 'signal', to: requesterId, data: { type: 'offer', sdp: 'x' } });
    expect((await stranger.next('error')).code).toBe('unknown_peer');

    // Leaving crosses nodes: the requester hears the exit is gone, and it is no longer offered.
    exit.close();
    expect(await requester.next('peer-gone')).toEqual({ type: 'peer-gone', peerId: exitId });
    expect(await exitsUntil(requester, (ids) => !ids.includes(exitId))).not.toContain(exitId);
    expect(strangerId).not.toBe(requesterId);
  });

  it('an exit that moves to the other node stays offered when its old connection is finally dropped', async () => {
    const first = client(nodeA.url);
    const exitId = await first.register(true, 6, 0);
    const requester = client(nodeA.url);
    await requester.register(false);
    await exitsUntil(requester, (ids) => ids.includes(exitId));
    // The same install on node B (its old socket on A not yet gone), then A drops the old one.
    const moved = client(nodeB.url, first.identity);
    await moved.register(true, 6, 0);
    await exitsUntil(requester, (ids) => ids.includes(exitId));
    first.socket.terminate();
    await first.closed;
    // A's withdrawal is refused (B holds the record now): the exit is still introduced, and reachable on B.
    const later = client(nodeA.url);
    const laterId = await later.register(false);
    expect(await exitsUntil(later, (ids) => ids.includes(exitId))).toContain(exitId);
    later.send({ type: 'signal', to: exitId, data: { type: 'offer', sdp: 'v=0 moved' } });
    expect(await moved.next('signal')).toEqual({
      type: 'signal',
      from: laterId,
      data: { type: 'offer', sdp: 'v=0 moved' },
    });
  });

  it('reports Redis in /readyz and its round trips in /metrics', async () => {
    const http = nodeA.url.replace(/^ws/, 'http');
    const ready = await fetch(`${http}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, draining: false, redis: true });
    const metrics = await (await fetch(`${http}/metrics`)).text();
    expect(metrics).toMatch(/peerlane_signaling_redis_seconds_count\{op="ping"\} [1-9]/);
    expect(metrics).toMatch(/peerlane_signaling_redis_seconds_count\{op="hgetall"\} 1/);
  });

  it('is not ready once Redis is gone', async () => {
    await stopRedis();
    const ready = await fetch(`${nodeB.url.replace(/^ws/, 'http')}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ ready: false, redis: false });
  });
});
