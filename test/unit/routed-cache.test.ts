import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  cachePartition,
  RoutedCache,
  type CacheDecision,
  type CacheEntry,
  type CacheEntryMeta,
  type CachedRequest,
  type CacheStore,
} from '../../extension/core/http/routed-cache';
import type { ResponseHead } from '../../extension/core/protocol/frames';
import type { CacheMode } from '../../extension/core/protocol/request-fields';

/** The store as a Map: the cache's rules are under test here, IndexedDB in the composed and e2e tests. */
class MapStore implements CacheStore {
  readonly entries = new Map<string, CacheEntry>();
  readonly used = new Map<string, number>();
  async get(key: string) {
    return this.entries.get(key);
  }
  async put(entry: CacheEntry) {
    this.entries.set(entry.key, entry);
    this.used.set(entry.key, entry.usedAt);
  }
  async touch(key: string, usedAt: number) {
    if (this.entries.has(key)) this.used.set(key, usedAt);
  }
  async delete(keys: readonly string[]) {
    for (const key of keys) {
      this.entries.delete(key);
      this.used.delete(key);
    }
  }
  async metas(): Promise<CacheEntryMeta[]> {
    return [...this.entries.values()].map((entry) => ({
      key: entry.key,
      size: entry.body.byteLength,
      usedAt: this.used.get(entry.key)!,
      exit: entry.exit,
    }));
  }
  async clear() {
    this.entries.clear();
    this.used.clear();
  }
}

const HOUR = 3_600_000;
const SITE = cachePartition('https://www.news.example.co.uk/front');

function setup(maxBytes = 1_000_000) {
  const store = new MapStore();
  const cache = new RoutedCache(store, {
    now: () => Date.now(),
    maxBytes: () => maxBytes,
    maxFreshMs: () => 24 * HOUR,
  });
  return { store, cache };
}

const request = (url: string, mode: CacheMode = 'default', headers: [string, string][] = []): CachedRequest => ({
  method: 'GET',
  url,
  headers,
  mode,
  partition: SITE,
});

const answer = (headers: [string, string][], status = 200): ResponseHead => ({ status, statusText: 'OK', headers });
const body = (text: string) => new TextEncoder().encode(text);

/** The decision, known to be of `kind` (the test fails here otherwise). */
function decided<K extends CacheDecision['kind']>(
  decision: CacheDecision,
  kind: K,
): Extract<CacheDecision, { kind: K }> {
  expect(decision.kind).toBe(kind);
  return decision as Extract<CacheDecision, { kind: K }>;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(new Date('2026-12-08T10:00:00Z'));
});
afterEach(() => {
  vi.useRealTimers();
});

describe('the routed cache', () => {
  it('partitions by the top-level page: its registrable domain (Public Suffix List), scheme and container', () => {
    expect(cachePartition('https://www.news.example.co.uk/a')).toBe('https://example.co.uk');
    expect(cachePartition('https://static.example.co.uk/b')).toBe(cachePartition('https://example.co.uk/'));
    expect(cachePartition('http://example.co.uk/')).not.toBe(cachePartition('https://example.co.uk/'));
    expect(cachePartition('https://a.github.io/')).not.toBe(cachePartition('https://b.github.io/'));
    expect(cachePartition('http://127.0.0.1:8080/x')).toBe('http://127.0.0.1');
    expect(cachePartition('https://example.org/', 'firefox-container-1')).not.toBe(
      cachePartition('https://example.org/', 'firefox-container-2'),
    );
    expect(cachePartition('moz-extension://abc/extension/ui/viewer.html')).toBe('moz-extension://abc');
  });

  it('answers a fresh response from the cache, in its partition only', async () => {
    const { cache } = setup();
    const url = 'https://cdn.example/app.js';
    expect(await cache.decide(request(url))).toEqual({ kind: 'miss' });
    await cache.put(request(url), answer([['cache-control', 'max-age=3600']]), body('js'), 'exit-a');
    vi.advanceTimersByTime(10 * 60_000);
    const hit = await cache.decide(request(url));
    expect(hit).toMatchObject({ kind: 'hit', entry: { exit: 'exit-a' } });
    expect(new TextDecoder().decode(decided(hit, 'hit').entry.body)).toBe('js');
    // Shown as stored, without an Age the origin never sent: the browser's own cache adds none either.
    expect(Object.fromEntries(decided(hit, 'hit').headers)).toEqual({ 'cache-control': 'max-age=3600' });
    expect(await cache.decide({ ...request(url), partition: cachePartition('https://other.example/') })).toEqual({
      kind: 'miss',
    });
  });

  it('never keeps what may not be kept: no-store (answer or request), a 206, a redirected answer, a POST', async () => {
    const { cache, store } = setup();
    const fresh: [string, string][] = [['cache-control', 'max-age=3600']];
    await cache.put(request('https://o.example/1'), answer([['cache-control', 'no-store']]), body('x'), 'e');
    await cache.put(request('https://o.example/2'), answer(fresh, 206), body('x'), 'e');
    await cache.put(request('https://o.example/3'), { ...answer(fresh), redirected: true }, body('x'), 'e');
    await cache.put({ ...request('https://o.example/4'), method: 'POST' }, answer(fresh), body('x'), 'e');
    await cache.put(request('https://o.example/5', 'no-store'), answer(fresh), body('x'), 'e');
    expect(store.entries.size).toBe(0);
    await cache.put(request('https://o.example/6'), answer(fresh), body('x'), 'e');
    expect(store.entries.size).toBe(1);
  });

  it('revalidates a stale answer with its validators, and a 304 makes it fresh again with the new headers', async () => {
    const { cache } = setup();
    const url = 'https://o.example/style.css';
    await cache.put(
      request(url),
      answer([
        ['cache-control', 'max-age=60'],
        ['etag', '"v1"'],
      ]),
      body('css'),
      'exit-a',
    );
    vi.advanceTimersByTime(120_000);
    const stale = await cache.decide(request(url));
    expect(stale).toMatchObject({ kind: 'revalidate', conditional: [['if-none-match', '"v1"']] });
    const refreshed = await cache.revalidated(
      request(url),
      decided(stale, 'revalidate').entry,
      answer(
        [
          ['cache-control', 'max-age=600'],
          ['etag', '"v1"'],
        ],
        304,
      ),
      'exit-b',
    );
    expect(refreshed?.entry).toMatchObject({ exit: 'exit-b' });
    expect(Object.fromEntries(refreshed!.headers)['cache-control']).toBe('max-age=600');
    vi.advanceTimersByTime(300_000);
    expect(await cache.decide(request(url))).toMatchObject({ kind: 'hit' });
  });

  it('follows the page cache mode as the browser does', async () => {
    const { cache } = setup();
    const url = 'https://o.example/data.json';
    expect(await cache.decide(request(url, 'only-if-cached'))).toEqual({ kind: 'unavailable' });
    await cache.put(
      request(url),
      answer([
        ['cache-control', 'max-age=60'],
        ['etag', '"d"'],
      ]),
      body('{}'),
      'e',
    );
    expect((await cache.decide(request(url, 'no-store'))).kind).toBe('bypass');
    expect((await cache.decide(request(url, 'reload'))).kind).toBe('miss');
    expect((await cache.decide(request(url, 'no-cache'))).kind).toBe('revalidate');
    expect((await cache.decide(request(url, 'default'))).kind).toBe('hit');
    vi.advanceTimersByTime(3_600_000);
    expect((await cache.decide(request(url, 'default'))).kind).toBe('revalidate');
    expect((await cache.decide(request(url, 'force-cache'))).kind).toBe('hit');
    expect((await cache.decide(request(url, 'only-if-cached'))).kind).toBe('hit');
  });

  it("stands aside for the page's own conditional and range requests, and a Vary mismatch is not a hit", async () => {
    const { cache } = setup();
    const url = 'https://o.example/v';
    await cache.put(
      request(url, 'default', [['accept-language', 'en']]),
      answer([
        ['cache-control', 'max-age=3600'],
        ['vary', 'accept-language'],
      ]),
      body('en'),
      'e',
    );
    expect((await cache.decide(request(url, 'default', [['If-None-Match', '"x"']]))).kind).toBe('bypass');
    expect((await cache.decide(request(url, 'default', [['range', 'bytes=0-1']]))).kind).toBe('bypass');
    expect((await cache.decide(request(url, 'default', [['accept-language', 'en']]))).kind).toBe('hit');
    expect((await cache.decide(request(url, 'default', [['accept-language', 'fr']]))).kind).not.toBe('hit');
  });

  it('asks again after 24 hours whatever the origin said: an exit cannot keep an answer fresh for long', async () => {
    const { cache } = setup();
    const url = 'https://o.example/forever.js';
    await cache.put(
      request(url),
      answer([
        ['cache-control', 'max-age=31536000, immutable'],
        ['etag', '"f"'],
      ]),
      body('f'),
      'e',
    );
    vi.advanceTimersByTime(23 * HOUR);
    expect((await cache.decide(request(url))).kind).toBe('hit');
    vi.advanceTimersByTime(2 * HOUR);
    expect((await cache.decide(request(url))).kind).toBe('revalidate');
  });

  it('stays under its byte cap, least recently used out first', async () => {
    const { cache, store } = setup(25);
    const fresh = answer([['cache-control', 'max-age=3600']]);
    for (const name of ['a', 'b']) {
      await cache.put(request(`https://o.example/${name}`), fresh, new Uint8Array(10), 'e');
      vi.advanceTimersByTime(1000);
    }
    await cache.decide(request('https://o.example/a')); // a used again: b is now the oldest
    vi.advanceTimersByTime(1000);
    await cache.put(request('https://o.example/c'), fresh, new Uint8Array(10), 'e');
    expect([...store.entries.keys()].map((key) => key.split('/').at(-1))).toEqual(['a', 'c']);
  });

  it('a lookup waits for an answer still being kept; one whose check caught its exit altering it is never kept', async () => {
    const { cache, store } = setup();
    const fresh = answer([['cache-control', 'max-age=3600']]);
    let settle: (caught: boolean) => void = () => undefined;
    const checked = new Promise<boolean>((resolve) => (settle = resolve));
    void cache.put(request('https://o.example/checked'), fresh, body('ok'), 'honest', checked);
    const lookup = cache.decide(request('https://o.example/checked'));
    settle(false);
    expect((await lookup).kind).toBe('hit');
    void cache.put(request('https://o.example/altered'), fresh, body('evil'), 'liar', Promise.resolve(true));
    expect((await cache.decide(request('https://o.example/altered'))).kind).toBe('miss');
    expect([...store.entries.values()].map((entry) => entry.exit)).toEqual(['honest']);
  });

  it('an exit caught altering answers loses every entry it supplied, and only those', async () => {
    const { cache, store } = setup();
    const fresh = answer([['cache-control', 'max-age=3600']]);
    await cache.put(request('https://o.example/1'), fresh, body('1'), 'liar');
    await cache.put(request('https://o.example/2'), fresh, body('2'), 'honest');
    await cache.put(request('https://o.example/3'), fresh, body('3'), 'liar');
    expect(await cache.dropExit('liar')).toBe(2);
    expect([...store.entries.values()].map((entry) => entry.exit)).toEqual(['honest']);
  });
});
