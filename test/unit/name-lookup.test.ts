import * as dnsPacket from '@leichtgewicht/dns-packet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PeerlaneError } from '../../extension/core/errors';
import { createDohLookup, createFirefoxLookup } from '../../extension/background/platform/name-lookups';
import {
  dialAddress,
  dohQueryUrl,
  judgeAddresses,
  LookupCache,
  MAX_CACHE_SECONDS,
  MAX_CACHED_NAMES,
  readDohAnswer,
  resolverUrlProblem,
  urlDialledTo,
} from '../../extension/core/exit/name-lookup';
import { DEFAULT_EXIT_POLICY } from '../../extension/core/exit/policy';
import { startDohServer, type DohServer, type DohVerdict } from '../helpers/doh-server';

describe('the DNS-over-HTTPS messages (pure)', () => {
  it('asks one question by RFC 8484 GET: id 0, recursion desired, base64url without padding', () => {
    const url = new URL(dohQueryUrl('https://resolver.example/dns-query?x=1', 'example.com', 'AAAA'));
    expect(url.searchParams.get('x')).toBe('1');
    const encoded = url.searchParams.get('dns')!;
    expect(encoded).toMatch(/^[A-Za-z0-9_-]+$/);
    const query = dnsPacket.decode(Buffer.from(encoded, 'base64url'));
    expect(query).toMatchObject({
      id: 0,
      flag_rd: true,
      questions: [{ name: 'example.com', type: 'AAAA', class: 'IN' }],
    });
  });

  it('reads the addresses of an answer past its CNAMEs, with the shortest TTL', () => {
    const response = dnsPacket.encode({
      type: 'response',
      id: 0,
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type: 'A', name: 'www.example.com' }],
      answers: [
        { type: 'CNAME', name: 'www.example.com', ttl: 30, data: 'cdn.example.net' },
        { type: 'A', name: 'cdn.example.net', ttl: 120, data: '93.184.216.34' },
        { type: 'A', name: 'cdn.example.net', ttl: 60, data: '93.184.216.35' },
      ],
    });
    expect(readDohAnswer(response)).toEqual({
      rcode: 'NOERROR',
      addresses: ['93.184.216.34', '93.184.216.35'],
      ttlSeconds: 60,
    });
  });

  it("names a malformed answer as the resolver's failure", () => {
    expect(() => readDohAnswer(new Uint8Array([1, 2, 3]))).toThrow(
      expect.objectContaining({ category: 'exit_fetch_failed' }),
    );
  });

  it('refuses a name with any private answer, and tells a name with none apart', () => {
    expect(judgeAddresses('a.example', ['93.184.216.34', '2606:2800:220:1::1'], [])).toBeNull();
    expect(judgeAddresses('a.example', ['93.184.216.34', '192.168.1.1'], [])).toMatchObject({
      category: 'destination_refused',
      message: 'a.example resolves to private address 192.168.1.1',
    });
    expect(judgeAddresses('a.example', ['::ffff:10.0.0.1'], [])).toMatchObject({ category: 'destination_refused' });
    expect(judgeAddresses('a.example', ['127.0.0.2'], ['127.0.0.2/32'])).toBeNull();
    expect(judgeAddresses('a.example', [], [])).toMatchObject({ category: 'destination_unresolved' });
  });

  it('dials plain HTTP to the first IPv4 address, else IPv6, keeping port, path and query', () => {
    expect(dialAddress(['2606:2800:220:1::1', '93.184.216.34'])).toBe('93.184.216.34');
    expect(dialAddress(['2606:2800:220:1::1'])).toBe('2606:2800:220:1::1');
    expect(() => dialAddress([])).toThrow(PeerlaneError);
    expect(urlDialledTo(new URL('http://a.example:8080/p?q=1#f'), '93.184.216.34')).toBe(
      'http://93.184.216.34:8080/p?q=1#f',
    );
    expect(urlDialledTo(new URL('http://a.example/p'), '2606:2800:220:1::1')).toBe('http://[2606:2800:220:1::1]/p');
  });

  it('keeps answers for their TTL, at most five minutes, and a bounded number of names', () => {
    let now = 0;
    const cache = new LookupCache(() => now);
    cache.set('a', ['1.1.1.1'], 10);
    cache.set('zero', ['1.1.1.1'], 0);
    cache.set('long', ['1.1.1.1'], 86_400);
    expect(cache.get('a')).toEqual(['1.1.1.1']);
    expect(cache.get('zero')).toBeNull();
    now = 10_000;
    expect(cache.get('a')).toBeNull();
    now = MAX_CACHE_SECONDS * 1000 - 1;
    expect(cache.get('long')).toEqual(['1.1.1.1']);
    now = MAX_CACHE_SECONDS * 1000;
    expect(cache.get('long')).toBeNull();
    for (let index = 0; index <= MAX_CACHED_NAMES; index += 1) cache.set(`n${index}`, ['1.1.1.1'], 60);
    expect(cache.get('n0')).toBeNull();
    expect(cache.get(`n${MAX_CACHED_NAMES}`)).toEqual(['1.1.1.1']);
  });

  it('takes an https resolver, or plain http on loopback only', () => {
    expect(resolverUrlProblem('https://cloudflare-dns.com/dns-query')).toBeNull();
    expect(resolverUrlProblem('http://127.0.0.1:5353/dns-query')).toBeNull();
    expect(resolverUrlProblem('http://[::1]/dns-query')).toBeNull();
    expect(resolverUrlProblem('http://dns.example/dns-query')).toMatch(/https/);
    expect(resolverUrlProblem('http://192.168.1.1/dns-query')).toMatch(/https/);
    expect(resolverUrlProblem('https://user:pw@dns.example/')).toMatch(/credentials/);
    expect(resolverUrlProblem('not a url')).toMatch(/URL/);
  });
});

describe("the Chromium exit's look-up against a real resolver on loopback", () => {
  let resolver: DohServer;
  let verdicts: Record<string, DohVerdict>;
  beforeAll(async () => {
    resolver = await startDohServer((name) => verdicts[name] ?? 'NXDOMAIN');
  });
  afterAll(async () => {
    await resolver.close();
  });
  const policy = () => ({ ...DEFAULT_EXIT_POLICY, resolverUrl: resolver.url });
  const never = new AbortController().signal;

  it('asks A and AAAA, returns both, and serves the same name from its cache until the TTL ends', async () => {
    verdicts = { 'dual.example': { addresses: ['93.184.216.34', '2606:2800:220:1::1'], ttlSeconds: 30 } };
    let now = 1_000;
    const lookup = createDohLookup(undefined, () => now);
    expect(await lookup('dual.example', policy(), never)).toEqual(['93.184.216.34', '2606:2800:220:1::1']);
    expect(await lookup('dual.example', policy(), never)).toEqual(['93.184.216.34', '2606:2800:220:1::1']);
    expect(resolver.questions.filter((question) => question.startsWith('dual.example'))).toEqual([
      'dual.example A',
      'dual.example AAAA',
    ]);
    now += 30_000;
    await lookup('dual.example', policy(), never);
    expect(resolver.questions.filter((question) => question.startsWith('dual.example'))).toHaveLength(4);
  });

  it('asks once for many requests at once', async () => {
    verdicts = { 'busy.example': { addresses: ['93.184.216.34'], ttlSeconds: 0 } };
    const lookup = createDohLookup();
    await Promise.all(Array.from({ length: 20 }, () => lookup('busy.example', policy(), never)));
    expect(resolver.questions.filter((question) => question === 'busy.example A')).toHaveLength(1);
  });

  it('tells a name that does not exist ([]) from a resolver that fails (exit_fetch_failed)', async () => {
    verdicts = { 'broken.example': 'SERVFAIL' };
    const lookup = createDohLookup();
    expect(await lookup('missing.example', policy(), never)).toEqual([]);
    await expect(lookup('broken.example', policy(), never)).rejects.toMatchObject({
      category: 'exit_fetch_failed',
      message: expect.stringMatching(/SERVFAIL.*did not connect/),
    });
    await expect(
      lookup('any.example', { ...policy(), resolverUrl: 'http://127.0.0.1:9/dns-query' }, never),
    ).rejects.toMatchObject({ category: 'exit_fetch_failed', message: expect.stringMatching(/unreachable/) });
  });

  it('stops waiting when the request is cancelled', async () => {
    verdicts = { 'slow.example': { addresses: ['93.184.216.34'] } };
    const controller = new AbortController();
    const lookup = createDohLookup();
    const pending = lookup('slow.example', policy(), controller.signal);
    controller.abort(new PeerlaneError('cancelled', 'the page gave up'));
    await expect(pending).rejects.toMatchObject({ category: 'cancelled' });
  });
});

describe("the Firefox exit's look-up (dns.resolve)", () => {
  const never = new AbortController().signal;
  it('passes the addresses on, [] for an unknown host, and a resolver failure as exit_fetch_failed', async () => {
    const lookup = createFirefoxLookup(async (name) => {
      if (name === 'ok.example') return { addresses: ['93.184.216.34'] };
      if (name === 'missing.example') throw new Error('NS_ERROR_UNKNOWN_HOST');
      throw new Error('NS_ERROR_OFFLINE');
    });
    expect(await lookup('ok.example', DEFAULT_EXIT_POLICY, never)).toEqual(['93.184.216.34']);
    expect(await lookup('missing.example', DEFAULT_EXIT_POLICY, never)).toEqual([]);
    await expect(lookup('down.example', DEFAULT_EXIT_POLICY, never)).rejects.toMatchObject({
      category: 'exit_fetch_failed',
    });
  });
});
