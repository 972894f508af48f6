import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startSignalingServer, type SignalingServer } from '../../signaling-server/server';
import { SigningIdentity } from '../helpers/signing-identity';
import { TestClient } from '../helpers/ws-client';

let server: SignalingServer;
const clients: TestClient[] = [];
const client = (options: ConstructorParameters<typeof TestClient>[1] = {}, identity?: SigningIdentity): TestClient => {
  const created = new TestClient(server.url, options, identity);
  clients.push(created);
  return created;
};

beforeEach(async () => {
  server = await startSignalingServer({ port: 0, heartbeatMs: 200 });
});
afterEach(async () => {
  for (const created of clients.splice(0)) created.socket.terminate();
  await server.close();
});

describe('signaling server', () => {
  it('answers /healthz on the same port', async () => {
    const exit = client();
    await exit.register(true);
    const response = await fetch(server.url.replace('ws', 'http') + '/healthz');
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ok', node: server.nodeId, peers: 1, exits: 1 });
  });

  it('introduces a requester to up to N exits, least loaded first, never to itself', async () => {
    const busy = client();
    const idle = client();
    const full = client();
    const busyId = await busy.register(true, 10, 9);
    const idleId = await idle.register(true, 10, 1);
    await full.register(true, 0, 0); // no capacity: never introduced
    const requester = client();
    const requesterId = await requester.register(true, 10, 0); // also an exit, must not get itself
    requester.send({ type: 'find-exits', count: 3, exclude: [] });
    const { exits } = await requester.next('exits');
    expect(exits.map((exit) => exit.peerId)).toEqual([idleId, busyId]);
    expect(exits.map((exit) => exit.peerId)).not.toContain(requesterId);
    requester.send({ type: 'find-exits', count: 3, exclude: [idleId] });
    expect((await requester.next('exits')).exits.map((exit) => exit.peerId)).toEqual([busyId]);
  });

  it('spreads requesters: an introduction counts as load until the exit reports', async () => {
    const a = client();
    const b = client();
    const aId = await a.register(true, 4, 0);
    const bId = await b.register(true, 4, 0);
    const first = client();
    const second = client();
    await first.register(false);
    await second.register(false);
    first.send({ type: 'find-exits', count: 1, exclude: [] });
    const firstExit = (await first.next('exits')).exits[0]!.peerId;
    second.send({ type: 'find-exits', count: 1, exclude: [] });
    const secondExit = (await second.next('exits')).exits[0]!.peerId;
    expect(new Set([firstExit, secondExit])).toEqual(new Set([aId, bId]));
  });

  it('relays signals both ways between introduced peers only', async () => {
    const exit = client();
    const exitId = await exit.register(true);
    const requester = client();
    const requesterId = await requester.register(false);
    const stranger = client();
    await stranger.register(false);
    stranger.send({ type: 'signal', to: exitId, data: { type: 'offer', sdp: 'v=0' } });
    expect((await stranger.next('error')).code).toBe('unknown_peer');
    requester.send({ type: 'find-exits', count: 1, exclude: [] });
    await requester.next('exits');
    requester.send({ type: 'signal', to: exitId, data: { type: 'offer', sdp: 'v=0 offer' } });
    expect(await exit.next('signal')).toEqual({
      type: 'signal',
      from: requesterId,
      data: { type: 'offer', sdp: 'v=0 offer' },
    });
    exit.send({
      type: 'signal',
      to: requesterId,
      data: { type: 'candidate', candidate: { candidate: 'c', sdpMid: '0' } },
    });
    expect((await requester.next('signal')).data).toMatchObject({ type: 'candidate' });
  });

  it('tells partners when a peer goes', async () => {
    const exit = client();
    const exitId = await exit.register(true);
    const requester = client();
    await requester.register(false);
    requester.send({ type: 'find-exits', count: 1, exclude: [] });
    await requester.next('exits');
    exit.close();
    expect(await requester.next('peer-gone')).toEqual({ type: 'peer-gone', peerId: exitId });
  });

  it('keeps the pairings of a peer the heartbeat cut off for its return on another connection (a changed network)', async () => {
    const exit = client();
    const exitId = await exit.register(true);
    // Answers no ping: its network went away (the heartbeat reaps it), then it comes back.
    const identity = new SigningIdentity();
    const gone = client({ autoPong: false }, identity);
    const requesterId = await gone.register(false);
    gone.send({ type: 'find-exits', count: 1, exclude: [] });
    await gone.next('exits');
    await gone.closed;
    const back = client({}, identity);
    expect(await back.register(false)).toBe(requesterId);
    // No new introduction: its ICE restart reaches the exit, and the exit never heard it left.
    back.send({ type: 'signal', to: exitId, data: { type: 'offer', sdp: 'v=0 restart' } });
    expect(await exit.next('signal')).toEqual({
      type: 'signal',
      from: requesterId,
      data: { type: 'offer', sdp: 'v=0 restart' },
    });
    await expect(exit.next('peer-gone', 300)).rejects.toThrow(/no peer-gone/);
  });

  it('tells partners a reaped peer left once it did not come back within the grace', async () => {
    await server.close();
    server = await startSignalingServer({ port: 0, heartbeatMs: 200, returnGraceMs: 300 });
    const exit = client();
    await exit.register(true);
    const gone = client({ autoPong: false });
    const requesterId = await gone.register(false);
    gone.send({ type: 'find-exits', count: 1, exclude: [] });
    await gone.next('exits');
    await gone.closed;
    expect(await exit.next('peer-gone', 2000)).toEqual({ type: 'peer-gone', peerId: requesterId });
  });

  it('answers malformed and unknown messages with bad_message, then closes a persistent offender', async () => {
    const bad = client();
    await bad.opened();
    bad.socket.send('{not json');
    expect((await bad.next('error')).code).toBe('bad_message');
    bad.send({ type: 'launch-missiles' });
    expect((await bad.next('error')).message).toMatch(/invalid message/);
    bad.send({ type: 'register', protocol: 1, exit: 'yes', capacity: 1, load: 0 });
    expect((await bad.next('error')).code).toBe('bad_message');
    for (let i = 0; i < 7; i += 1) bad.send({ type: 'nope' });
    expect((await bad.closed).code).toBe(1008);
    // others are unaffected
    const good = client();
    expect(await good.register(true)).toMatch(/^[A-Za-z0-9_-]+$/);
  });

  it('closes a connection that sends an oversize message', async () => {
    const big = client();
    await big.opened();
    big.socket.send('x'.repeat(70 * 1024));
    expect((await big.closed).code).toBe(1009);
  });

  it('reaps a connection that stops answering pings', async () => {
    const silent = client();
    await silent.register(true);
    expect(server.peerCount()).toBe(1);
    // Stop answering pings the way a frozen tab would: pause the socket's reader.
    (silent.socket as unknown as { _socket: { pause(): void } })._socket.pause();
    const deadline = Date.now() + 5000;
    while (server.peerCount() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.peerCount()).toBe(0);
  });
});
