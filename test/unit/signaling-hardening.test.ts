import { createHmac } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { issueToken, originAllowed, verifyToken } from '../../signaling-server/auth';
import { IpLimits, TokenBucket } from '../../signaling-server/limits';
import type { SignalingServer } from '../../signaling-server/server';
import { turnCredentials } from '../../signaling-server/turn';
import { connectOutcome, signalingFixture } from '../helpers/ws-client';

const { server, client, cleanup } = signalingFixture({ heartbeatMs: 200, drainMs: 2000 });
afterEach(cleanup);

const httpOf = (started: SignalingServer): string => started.url.replace(/^ws/, 'http');

describe('tokens, origins and TURN credentials (pure)', () => {
  it('issues and verifies HMAC tokens that expire', () => {
    const token = issueToken('s3cret', 'alice', 2_000);
    expect(verifyToken('s3cret', token, 1_999)).toEqual({ ok: true, subject: 'alice' });
    expect(verifyToken('s3cret', token, 2_000)).toEqual({ ok: false, reason: 'token_expired' });
    expect(verifyToken('other', token, 1_000)).toEqual({ ok: false, reason: 'token_bad_signature' });
    expect(verifyToken('s3cret', token.replace('alice', 'mallory'), 1_000)).toEqual({
      ok: false,
      reason: 'token_bad_signature',
    });
    expect(verifyToken('s3cret', token.replace('.2000.', '.9999.'), 1_000)).toEqual({
      ok: false,
      reason: 'token_bad_signature',
    });
    expect(verifyToken('s3cret', 'no-dots', 1_000)).toEqual({ ok: false, reason: 'token_malformed' });
    expect(verifyToken('s3cret', null, 1_000)).toEqual({ ok: false, reason: 'token_missing' });
  });

  it('matches Origins exactly or by scheme wildcard, and allows all when no list is set', () => {
    const list = ['chrome-extension://abcdefghijklmnop', 'moz-extension://*'];
    expect(originAllowed(list, 'chrome-extension://abcdefghijklmnop')).toBe(true);
    expect(originAllowed(list, 'chrome-extension://other')).toBe(false);
    expect(originAllowed(list, 'moz-extension://5f1e3c9a-7d64')).toBe(true);
    expect(originAllowed(list, 'https://evil.example')).toBe(false);
    expect(originAllowed(list, undefined)).toBe(false);
    expect(originAllowed([], undefined)).toBe(true);
  });

  it('hands out coturn REST-API credentials: username expiry:peer, password base64 HMAC-SHA1', () => {
    const ice = turnCredentials(
      { secret: 'turn-secret', urls: ['turn:127.0.0.1:3478'], ttlSeconds: 600 },
      'peer123',
      1_000,
    );
    expect(ice.username).toBe('1600:peer123');
    expect(ice.credential).toBe(createHmac('sha1', 'turn-secret').update('1600:peer123').digest('base64'));
    expect(ice.urls).toEqual(['turn:127.0.0.1:3478']);
  });

  it('token buckets refill at their rate up to their burst; IP limits cap connections and forget idle addresses', () => {
    const bucket = new TokenBucket(10, 20, 0);
    let taken = 0;
    while (bucket.take(0)) taken += 1;
    expect(taken).toBe(20);
    expect(bucket.take(99)).toBe(false);
    expect(bucket.take(100)).toBe(true);
    const limits = new IpLimits({ maxConnectionsPerIp: 2, connectsPerIpPerSecond: 100, messagesPerIpPerSecond: 100 });
    expect(limits.admit('10.0.0.1', 0)).toEqual({ ok: true });
    expect(limits.admit('10.0.0.1', 0)).toEqual({ ok: true });
    expect(limits.admit('10.0.0.1', 0)).toEqual({ ok: false, reason: 'ip_connection_cap' });
    expect(limits.admit('10.0.0.2', 0)).toEqual({ ok: true });
    limits.release('10.0.0.1', 10_000);
    limits.release('10.0.0.1', 10_000);
    limits.release('10.0.0.2', 10_000);
    expect(limits.trackedIps).toBe(0);
  });
});

describe('admission', () => {
  it('with a secret set, connects only with a valid, unexpired token', async () => {
    const started = await server({ tokenSecret: 'hmac-secret' });
    expect(await connectOutcome(started.url)).toBe('401 token_missing');
    expect(await connectOutcome(`${started.url}/?token=${issueToken('wrong', 'bob', Date.now() / 1000 + 60)}`)).toBe(
      '401 token_bad_signature',
    );
    expect(
      await connectOutcome(`${started.url}/?token=${issueToken('hmac-secret', 'bob', Date.now() / 1000 - 1)}`),
    ).toBe('401 token_expired');
    expect(
      await connectOutcome(`${started.url}/?token=${issueToken('hmac-secret', 'bob', Date.now() / 1000 + 60)}`),
    ).toBe('open');
  });

  it('with an Origin allow-list, refuses other origins', async () => {
    const started = await server({ allowedOrigins: ['moz-extension://*'] });
    expect(await connectOutcome(started.url, { origin: 'https://evil.example' })).toBe('403 origin_refused');
    expect(await connectOutcome(started.url)).toBe('403 origin_refused');
    expect(await connectOutcome(started.url, { origin: 'moz-extension://1234' })).toBe('open');
  });

  it('caps connections per IP address; another address still connects', async () => {
    const started = await server({ maxConnectionsPerIp: 3 });
    const held = [client(started.url), client(started.url), client(started.url)];
    await Promise.all(held.map((each) => each.opened()));
    expect(await connectOutcome(started.url)).toBe('429 ip_connection_cap');
    expect(await connectOutcome(started.url, { localAddress: '127.0.0.2' })).toBe('open');
  });

  it('cuts off a flooding client with the reason, and it is counted in /metrics', async () => {
    const started = await server({ messagesPerSecond: 20, maxInvalidMessages: 5 });
    const flooder = client(started.url);
    await flooder.register(false);
    for (let index = 0; index < 200; index += 1) flooder.send({ type: 'find-exits', count: 1, exclude: [] });
    expect(await flooder.closed).toEqual({ code: 1008, reason: 'rate_limited' });
    const metrics = await (await fetch(`${httpOf(started)}/metrics`)).text();
    expect(metrics).toMatch(/peerlane_signaling_rejects_total\{reason="rate_limited"\} 5/);
  });
});

describe('directory and introductions', () => {
  it('stops introducing an exit that stops refreshing its load, and introduces it again once it does', async () => {
    const started = await server({ exitRefreshMs: 100 });
    const exit = client(started.url);
    // The server stamps the exit's refresh while it registers: no earlier than this.
    const beforeRefresh = Date.now();
    const exitId = await exit.register(true, 4, 0);
    const requester = client(started.url);
    await requester.register(false);
    requester.send({ type: 'find-exits', count: 1, exclude: [] });
    expect((await requester.next('exits')).exits.map((each) => each.peerId)).toEqual([exitId]);
    // No update for longer than 2.5 refresh periods (and a heartbeat sweep): no longer introduced.
    // Asked until it is dropped (bounded), and never before 2.5 periods have passed.
    await expect
      .poll(
        async () => {
          requester.send({ type: 'find-exits', count: 1, exclude: [] });
          return (await requester.next('exits')).exits.length;
        },
        { timeout: 2000, interval: 20 },
      )
      .toBe(0);
    expect(Date.now() - beforeRefresh).toBeGreaterThanOrEqual(250);
    exit.send({ type: 'update', exit: true, capacity: 4, load: 0, nat: 'unknown' });
    // An update has no answer: ask until the refreshed exit is offered (bounded by expect.poll).
    await expect
      .poll(
        async () => {
          requester.send({ type: 'find-exits', count: 1, exclude: [] });
          return (await requester.next('exits')).exits.map((each) => each.peerId);
        },
        { timeout: 2000 },
      )
      .toEqual([exitId]);
  });

  it('sends TURN credentials with registration when configured, and tells the exit to refresh', async () => {
    const started = await server({
      ice: {
        stunUrls: ['stun:127.0.0.1:3478'],
        turn: { secret: 'turn-secret', urls: ['turn:127.0.0.1:3478?transport=udp'], ttlSeconds: 3600 },
      },
      exitRefreshMs: 5000,
    });
    const peer = client(started.url);
    const registered = await peer.registration(false);
    expect(registered.refreshMs).toBe(5000);
    expect(registered.iceServers).toHaveLength(2);
    const [stun, turn] = registered.iceServers;
    expect(stun).toEqual({ urls: ['stun:127.0.0.1:3478'] });
    expect(turn!.username).toMatch(new RegExp(`^\\d+:${registered.peerId}$`));
    expect(turn!.credential).toBe(
      createHmac('sha1', 'turn-secret')
        .update(turn!.username ?? '')
        .digest('base64'),
    );
  });
});

describe('observability and shutdown', () => {
  it('/metrics shows connections by role, messages by type and the introduction histogram; /readyz is ready', async () => {
    const started = await server();
    const exit = client(started.url);
    await exit.register(true);
    const requester = client(started.url);
    await requester.register(false);
    requester.send({ type: 'find-exits', count: 1, exclude: [] });
    await requester.next('exits');
    const metrics = await (await fetch(`${httpOf(started)}/metrics`)).text();
    expect(metrics).toMatch(/peerlane_signaling_connections\{role="exit"\} 1/);
    expect(metrics).toMatch(/peerlane_signaling_connections\{role="requester"\} 1/);
    expect(metrics).toMatch(/peerlane_signaling_messages_total\{type="register"\} 2/);
    expect(metrics).toMatch(/peerlane_signaling_introduction_seconds_count 1/);
    const ready = await fetch(`${httpOf(started)}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ ready: true, draining: false, redis: 'not configured' });
  });

  it('drains gracefully: clients are told to reconnect, new connections are refused, close waits for them', async () => {
    const started = await server({ reconnectWithinMs: 1000, drainMs: 5000 });
    const peer = client(started.url);
    await peer.register(false);
    const closing = started.close();
    const notice = await peer.next('reconnect');
    expect(notice).toMatchObject({ withinMs: 1000 });
    expect(await connectOutcome(started.url)).toMatch(/^(503 draining|error )/);
    let closed = false;
    void closing.then(() => {
      closed = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(closed).toBe(false); // still waiting for the client to leave
    peer.close();
    await closing; // closing it again at cleanup does nothing
  });
});
