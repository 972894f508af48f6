import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSignalingServer, type SignalingServer } from '../../signaling-server/server';
import { startRedis, type RedisProcess } from '../helpers/redis';
import { TestClient } from '../helpers/ws-client';

/**
 * Two signaling nodes sharing Debian's redis-server (started here on a loopback port): a requester
 * on node A is introduced to an exit on node B, their signals relay across, and departures cross
 * nodes too.
 */
let redis: RedisProcess;
let nodeA: SignalingServer;
let nodeB: SignalingServer;
const clients: TestClient[] = [];
const client = (url: string): TestClient => {
  const created = new TestClient(url);
  clients.push(created);
  return created;
};

beforeAll(async () => {
  redis = await startRedis();
  nodeA = await startSignalingServer({ port: 0, redis: { kind: 'single', url: redis.url }, heartbeatMs: 500, drainMs: 1000 });
  nodeB = await startSignalingServer({ port: 0, redis: { kind: 'single', url: redis.url }, heartbeatMs: 500, drainMs: 1000 });
}, 30_000);

afterAll(async () => {
  for (const created of clients) created.socket.terminate();
  await nodeA?.close();
  await nodeB?.close();
  await redis?.stop();
});

/** Asks until the directory (reached over Redis) offers what `accept` wants, bounded. */
async function exitsUntil(requester: TestClient, accept: (ids: string[]) => boolean): Promise<string[]> {
  let ids: string[] = [];
  await expect
    .poll(async () => {
      requester.send({ type: 'find-exits', count: 3, exclude: [] });
      ids = (await requester.next('exits')).exits.map((exit) => exit.peerId);
      return accept(ids);
    }, { timeout: 5000 })
    .toBe(true);
  return ids;
}

describe('two nodes over Redis', () => {
  it('introduces a requester on one node to an exit on the other, and relays signals both ways', async () => {
    expect(nodeA.nodeId).not.toBe(nodeB.nodeId);
    const exit = client(nodeB.url);
    const exitId = await exit.register(true, 6, 0);
    const requester = client(nodeA.url);
    const requesterId = await requester.register(false);
    expect(await exitsUntil(requester, (ids) => ids.includes(exitId))).toEqual([exitId]);

    requester.send({ type: 'signal', to: exitId, data: { type: 'offer', sdp: 'v=0 offer' } });
    expect(await exit.next('signal')).toEqual({ type: 'signal', from: requesterId, data: { type: 'offer', sdp: 'v=0 offer' } });
    exit.send({ type: 'signal', to: requesterId, data: { type: 'answer', sdp: 'v=0 answer' } });
    expect(await requester.next('signal')).toEqual({ type: 'signal', from: exitId, data: { type: 'answer', sdp: 'v=0 answer' } });

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
    await redis.stop();
    const ready = await fetch(`${nodeB.url.replace(/^ws/, 'http')}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ ready: false, redis: false });
  });
});
