import { afterEach, describe, expect, it } from 'vitest';
import { classifyNat, isPublicAddress, type GatheredCandidate } from '../../extension/core/peers/nat-kind';
import { toBase64Url } from '../../protocol/identity-proof';
import { fromBase64Url, verifyRegistration } from '../../signaling-server/identity';
import { directPossible } from '../../signaling-server/reachability';
import { SigningIdentity } from '../helpers/signing-identity';
import { signalingFixture, type TestClient } from '../helpers/ws-client';

/**
 * Stable identities (a key pair per install, the id derived from it, possession proved by signing
 * the connection's nonce) and NAT-aware introductions, against a real server on loopback.
 */
const { server, client: connect, cleanup } = signalingFixture({ heartbeatMs: 5000, drainMs: 1000 });
const client = (url: string, identity?: SigningIdentity): TestClient => connect(url, {}, identity);
afterEach(cleanup);

describe('registration proves a key (pure parts)', () => {
  it('accepts only a signature over this host and nonce, made with the key presented', async () => {
    const identity = new SigningIdentity();
    const other = new SigningIdentity();
    const signature = identity.prove('signal.example:443', 'nonce-1');
    expect(await verifyRegistration(identity.publicKey, signature, 'signal.example:443', 'nonce-1')).toEqual({
      ok: true,
      peerId: identity.peerId,
    });
    expect(await verifyRegistration(identity.publicKey, signature, 'signal.example:443', 'nonce-2')).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(await verifyRegistration(identity.publicKey, signature, 'evil.example:443', 'nonce-1')).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(await verifyRegistration(other.publicKey, signature, 'signal.example:443', 'nonce-1')).toEqual({
      ok: false,
      reason: 'bad_signature',
    });
    expect(await verifyRegistration('AAAA', signature, 'signal.example:443', 'nonce-1')).toEqual({
      ok: false,
      reason: 'bad_public_key',
    });
    expect(
      await verifyRegistration(identity.publicKey, signature.slice(0, -2), 'signal.example:443', 'nonce-1'),
    ).toEqual({ ok: false, reason: 'bad_signature' });
    expect(identity.peerId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(identity.peerId).not.toBe(other.peerId);
  });

  it('base64url round-trips and refuses non-canonical text', () => {
    const bytes = Uint8Array.from({ length: 33 }, (_, index) => (index * 37) & 255);
    expect(new Uint8Array(fromBase64Url(toBase64Url(bytes))!)).toEqual(bytes);
    expect(fromBase64Url('ab+c')).toBeNull();
    expect(fromBase64Url('abc=')).toBeNull();
    expect(fromBase64Url('a')).toBeNull();
  });
});

describe('stable ids on a real server', () => {
  it('gives the same id to the same key on every connection and after a server restart, and refuses a forged proof', async () => {
    const first = await server();
    const identity = new SigningIdentity();
    const id = await client(first.url, identity).register(false);
    expect(id).toBe(identity.peerId);
    expect(await client(first.url, identity).register(false)).toBe(id);
    const port = first.port;
    await first.close(); // closing it again at cleanup does nothing
    const restarted = await server({ port });
    expect(await client(restarted.url, identity).register(false)).toBe(id);

    // A proof made for another connection's nonce is refused and registers nothing.
    const forger = client(restarted.url);
    const { nonce } = await forger.next('challenge');
    const replay = identity.register(forger.host, `${nonce}x`, { exit: false, capacity: 0, load: 0 });
    forger.socket.send(replay);
    expect(await forger.next('error')).toMatchObject({ code: 'bad_signature' });
    forger.send({ type: 'find-exits', count: 1, exclude: [] });
    expect(await forger.next('error')).toMatchObject({ code: 'not_registered' });
  });

  it('a second connection with the same identity replaces the first; the exit stays introduced', async () => {
    const started = await server();
    const identity = new SigningIdentity();
    const old = client(started.url, identity);
    await old.register(true, 4, 0);
    const fresh = client(started.url, identity);
    await fresh.register(true, 4, 0);
    expect(await old.next('error')).toMatchObject({ code: 'replaced' });
    expect((await old.closed).code).toBe(4000);
    const requester = client(started.url);
    await requester.register(false);
    requester.send({ type: 'find-exits', count: 3, exclude: [] });
    expect((await requester.next('exits')).exits.map((exit) => exit.peerId)).toEqual([identity.peerId]);
    // The exit left and came back under its id: a requester that still has it excludes it by that id.
    requester.send({ type: 'find-exits', count: 3, exclude: [identity.peerId] });
    expect((await requester.next('exits')).exits).toEqual([]);
  });
});

describe('NAT-aware introductions', () => {
  it('never introduces a pair that cannot meet directly when there is no relay', async () => {
    const started = await server();
    const symmetricExit = client(started.url);
    await symmetricExit.register(true, 4, 0, 'symmetric');
    const coneExit = client(started.url);
    await coneExit.register(true, 4, 0, 'cone');
    const openExit = client(started.url);
    const openId = await openExit.register(true, 4, 3, 'open'); // busier, but the only one reachable
    const requester = client(started.url);
    await requester.register(false, 0, 0, 'symmetric');
    requester.send({ type: 'find-exits', count: 3, exclude: [] });
    // And says how many it left out for that, so the requester can tell its person why.
    expect(await requester.next('exits')).toEqual({
      type: 'exits',
      exits: [{ peerId: openId, capacity: 4, load: 4, relay: false }],
      unreachable: 2,
    });
  });

  it('with a TURN relay, introduces such a pair with relay: true, after the exits it reaches directly', async () => {
    const started = await server({
      ice: { stunUrls: [], turn: { secret: 's', urls: ['turn:127.0.0.1:3478'], ttlSeconds: 600 } },
    });
    const blockedExit = client(started.url);
    const blockedId = await blockedExit.register(true, 4, 0, 'blocked');
    const openExit = client(started.url);
    const openId = await openExit.register(true, 4, 3, 'open');
    const requester = client(started.url);
    await requester.register(false, 0, 0, 'cone');
    requester.send({ type: 'find-exits', count: 3, exclude: [] });
    expect((await requester.next('exits')).exits.map((exit) => [exit.peerId, exit.relay])).toEqual([
      [openId, false],
      [blockedId, true],
    ]);
  });

  it('decides reachability from the two NAT kinds', () => {
    expect(directPossible('cone', 'cone')).toBe(true);
    expect(directPossible('symmetric', 'open')).toBe(true);
    expect(directPossible('symmetric', 'cone')).toBe(false);
    expect(directPossible('cone', 'symmetric')).toBe(false);
    expect(directPossible('symmetric', 'symmetric')).toBe(false);
    expect(directPossible('blocked', 'open')).toBe(false);
    expect(directPossible('unknown', 'unknown')).toBe(true);
  });
});

describe('NAT kind from gathered candidates (pure)', () => {
  const host = (address: string, port = 50000): GatheredCandidate => ({
    type: 'host',
    address,
    port,
    relatedAddress: null,
    relatedPort: null,
  });
  const srflx = (address: string, port: number, base = '192.168.1.2', basePort = 50000): GatheredCandidate => ({
    type: 'srflx',
    address,
    port,
    relatedAddress: base,
    relatedPort: basePort,
  });

  it('names no NAT, a cone, a symmetric NAT, blocked UDP and the unprobed', () => {
    expect(classifyNat([host('192.168.1.2')], 0)).toBe('unknown');
    expect(classifyNat([host('203.0.113.7'), srflx('203.0.113.7', 50000, '203.0.113.7')], 2)).toBe('open');
    expect(classifyNat([host('203.0.113.7')], 2)).toBe('open'); // the browser dropped the srflx equal to its host candidate
    expect(classifyNat([host('192.168.1.2'), srflx('198.51.100.1', 40000), srflx('198.51.100.1', 40000)], 2)).toBe(
      'cone',
    );
    expect(classifyNat([host('192.168.1.2'), srflx('198.51.100.1', 40000), srflx('198.51.100.1', 40001)], 2)).toBe(
      'symmetric',
    );
    expect(classifyNat([host('192.168.1.2')], 2)).toBe('blocked');
    expect(
      classifyNat(
        [
          host('0a1b2c3d.local'),
          srflx('198.51.100.1', 40000, '0.0.0.0', 0),
          srflx('198.51.100.1', 40100, '0.0.0.0', 0),
        ],
        2,
      ),
    ).toBe('symmetric');
    // Two interfaces, each with its own stable mapping: still a cone.
    expect(
      classifyNat(
        [srflx('198.51.100.1', 40000, '192.168.1.2', 50000), srflx('198.51.100.1', 40002, '10.0.0.2', 50002)],
        2,
      ),
    ).toBe('cone');
  });

  it('tells public host addresses from private and mDNS ones', () => {
    expect(['203.0.113.7', '2001:db8::1'].map(isPublicAddress)).toEqual([true, true]);
    expect(
      [
        '10.1.2.3',
        '172.20.0.1',
        '192.168.0.9',
        '100.64.0.1',
        '169.254.1.1',
        '127.0.0.1',
        'abc.local',
        'fe80::1',
        'fd00::1',
      ].map(isPublicAddress),
    ).toEqual(Array(9).fill(false));
  });
});
