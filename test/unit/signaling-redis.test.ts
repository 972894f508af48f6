import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisTarget } from '../../signaling-server/redis-bus';
import { startSignalingServer, type SignalingServer } from '../../signaling-server/server';
import { startRedis, startRedisCluster } from '../helpers/redis';
import type { SigningIdentity } from '../helpers/signing-identity';
import { circlesStateFor, revoke } from '../../extension/core/circles/circles';
import type { CirclesState } from '../../protocol/signaling-messages';
import { circleWithMember, registerWith, updateCircles, verdicts } from '../helpers/circles-fixture';
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
async function exitsUntil(
  requester: TestClient,
  accept: (ids: string[]) => boolean,
  timeout = 5000,
): Promise<string[]> {
  let ids: string[] = [];
  await expect
    .poll(
      async () => {
        requester.send({ type: 'find-exits', count: 3, exclude: [] });
        ids = (await requester.next('exits')).exits.map((exit) => exit.peerId);
        return accept(ids);
      },
      { timeout, interval: 50 },
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
  let target: RedisTarget;
  const options = { port: 0, heartbeatMs: 500, drainMs: 1000, reportThreshold: 2, reportMinAgeMs: 0 };
  /** What the cross-node tests leave for the restart test: a flagged exit, a revoked member. */
  let flaggedExitId = '';
  let revokedMember: { identity: SigningIdentity; state: CirclesState; circle: string } | null = null;

  beforeAll(async () => {
    const started = await start();
    stopRedis = started.stop;
    target = started.target;
    nodeA = await startSignalingServer({ ...options, redis: target });
    nodeB = await startSignalingServer({ ...options, redis: target });
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

  it('a revocation decided on one node holds on the other within a second: the member there loses the circle and its pairing', async () => {
    const { owner, member, circle, inviteId } = await circleWithMember();
    const exit = client(nodeA.url);
    const exitId = await registerWith(exit, true, circlesStateFor(owner, 'circles'));
    const memberClient = client(nodeB.url);
    const memberId = await registerWith(memberClient, false, circlesStateFor(member, 'everyone'));
    await exitsUntil(memberClient, (ids) => ids.includes(exitId));
    memberClient.send({ type: 'signal', to: exitId, data: { type: 'offer', sdp: 'v=0' } });
    await exit.next('signal');

    // The owner (the exit here) revokes on node A; node B checks the list itself and acts on it.
    const revoked = await revoke(owner, circle, inviteId);
    updateCircles(exit, true, circlesStateFor(revoked, 'circles'));
    expect(await memberClient.next('circles', 1000)).toEqual({
      type: 'circles',
      member: [],
      refused: [{ circle, reason: 'revoked' }],
    });
    expect((await memberClient.next('circle-revocation', 1000)).list).toMatchObject({
      version: 1,
      revoked: [inviteId],
    });
    expect(await memberClient.next('access-ended', 1000)).toMatchObject({ peerId: exitId });
    expect(await exit.next('access-ended', 1000)).toMatchObject({ peerId: memberId });
    expect(await exitsUntil(memberClient, (ids) => !ids.includes(exitId), 1000)).not.toContain(exitId);
    memberClient.send({ type: 'signal', to: exitId, data: { type: 'offer', sdp: 'v=0 again' } });
    expect(await memberClient.next('error')).toMatchObject({ code: 'unknown_peer' });
    revokedMember = { identity: memberClient.identity, state: circlesStateFor(member, 'everyone'), circle };
  });

  it("a circle-only exit's node checks a relayed requester's credential itself: another node's word is not enough", async () => {
    const { owner, member } = await circleWithMember();
    const exit = client(nodeA.url);
    const exitId = await registerWith(exit, true, circlesStateFor(owner, 'circles'));
    const strangerId = await client(nodeB.url).register(false);
    const memberId = await client(nodeB.url).register(false);
    // A rogue node (anyone who can publish on the bus) relays first a stranger's offer with no
    // credential, then the member's with its real one.
    const rogue = target.kind === 'single' ? new Redis(target.url) : new Cluster(target.nodes);
    try {
      const channel = `peerlane:node:{${nodeA.nodeId}}`;
      const publish = (envelope: Record<string, unknown>) =>
        target.kind === 'single'
          ? rogue.publish(channel, JSON.stringify(envelope))
          : (rogue as Cluster).spublish(channel, JSON.stringify(envelope));
      const offer = (from: string) => ({
        type: 'signal',
        to: exitId,
        from,
        fromNode: 'rogue1',
        data: { type: 'offer', sdp: `v=0 ${from}` },
      });
      await publish(offer(strangerId));
      await publish({ ...offer(memberId), credentials: [member.joined[0]!.credential] });
      // Only the member's reaches the exit.
      expect(await exit.next('signal')).toMatchObject({ from: memberId });
      await expect(exit.next('signal', 300)).rejects.toThrow(/no signal/);
    } finally {
      rogue.disconnect();
    }
  });

  it('reports from requesters on both nodes flag the exit on both within a second', async () => {
    const exit = client(nodeA.url);
    const exitId = await exit.register(true, 6, 0);
    const onA = client(nodeA.url);
    await onA.register(false);
    const onB = client(nodeB.url);
    await onB.register(false);
    await exitsUntil(onA, (ids) => ids.includes(exitId));
    await exitsUntil(onB, (ids) => ids.includes(exitId));
    const outsiders = [client(nodeA.url), client(nodeB.url)];
    for (const outsider of outsiders) await outsider.register(false);
    // One report (threshold 2) changes nothing; the second, made on the other node, flags it on both.
    onA.send({ type: 'report-exit', peerId: exitId, reason: 'altered_body' });
    for (const outsider of outsiders)
      expect(await exitsUntil(outsider, (ids) => ids.includes(exitId))).toContain(exitId);
    onB.send({ type: 'report-exit', peerId: exitId, reason: 'altered_body' });
    for (const outsider of outsiders)
      expect(await exitsUntil(outsider, (ids) => !ids.includes(exitId), 1000)).not.toContain(exitId);
    flaggedExitId = exitId;
  });

  it('a node started later knows every report and revocation (kept in Redis)', async () => {
    expect(flaggedExitId).not.toBe('');
    const nodeC = await startSignalingServer({ ...options, redis: target });
    try {
      const requester = client(nodeC.url);
      await requester.register(false);
      requester.send({ type: 'find-exits', count: 8, exclude: [] });
      expect((await requester.next('exits')).exits.map((exit) => exit.peerId)).not.toContain(flaggedExitId);
      // The revoked member presents its old credential on the new node: refused at once.
      const returning = client(nodeC.url, revokedMember!.identity);
      await registerWith(returning, false, revokedMember!.state);
      expect(verdicts.get(returning)).toMatchObject({
        member: [],
        refused: [{ circle: revokedMember!.circle, reason: 'revoked' }],
      });
    } finally {
      await nodeC.close();
    }
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
