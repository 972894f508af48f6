import CachePolicy from 'http-cache-semantics';
import { getDomain } from 'tldts';
import type { ResponseHead } from '../protocol/frames';
import type { CacheMode } from '../protocol/request-fields';

/**
 * The requester's private HTTP cache for routed responses. Routed answers never touch the browser's
 * own cache (the page hook answers fetch and XHR itself), so without this every returning visit
 * fetched every resource again through someone else's connection. The rules of RFC 9111 are
 * http-cache-semantics' (freshness, Vary, no-store, no-cache, must-revalidate, revalidation headers,
 * a 304's merge); this decides what the page's cache mode asks, keys entries by the top-level site
 * as browsers partition their caches, caps how long any routed answer counts as fresh, remembers
 * which exit supplied each one, and keeps the whole under a byte cap, least recently used first.
 * Pure: the store is the host's (IndexedDB), the clock is given.
 */

/** Largest body kept: larger ones (downloads) are not worth the storage and would push out a site's many small ones. */
export const MAX_CACHED_BODY_BYTES = 16 * 1024 * 1024;
export const DEFAULT_CACHE_MAX_BYTES = 250 * 1024 * 1024;

/**
 * The partition a request's answers live in: the top-level page's site (scheme and registrable
 * domain, from the Public Suffix List) and its container, so one site cannot time another's visits.
 */
export function cachePartition(topLevelUrl: string | null, container: string | null = null): string {
  let site = 'unknown';
  if (topLevelUrl) {
    try {
      const url = new URL(topLevelUrl);
      const domain = getDomain(url.hostname, { allowPrivateDomains: true }) ?? url.hostname;
      site = /^https?:$/.test(url.protocol) ? `${url.protocol}//${domain}` : `${url.protocol}//${url.host}`;
    } catch {
      site = 'unknown';
    }
  }
  return container ? `${site} ${container}` : site;
}

export interface CachedRequest {
  method: string;
  url: string;
  headers: [string, string][];
  mode: CacheMode;
  partition: string;
}

/** One stored answer, whole. */
export interface CacheEntry {
  key: string;
  partition: string;
  url: string;
  policy: CachePolicy.CachePolicyObject;
  status: number;
  statusText: string;
  headers: [string, string][];
  body: Uint8Array;
  /** The exit that supplied it (or last confirmed it with a 304). */
  exit: string;
  storedAt: number;
  usedAt: number;
}

/** What eviction and an exit's removal need, without the bodies. */
export interface CacheEntryMeta {
  key: string;
  size: number;
  usedAt: number;
  exit: string;
}

export interface CacheStore {
  get(key: string): Promise<CacheEntry | undefined>;
  put(entry: CacheEntry): Promise<void>;
  touch(key: string, usedAt: number): Promise<void>;
  delete(keys: readonly string[]): Promise<void>;
  metas(): Promise<CacheEntryMeta[]>;
  clear(): Promise<void>;
}

export interface RoutedCacheOptions {
  now(): number;
  maxBytes(): number;
  maxFreshMs(): number;
}

/** What to do with one request. */
export type CacheDecision =
  /** Not the cache's: fetch, store nothing (a POST, the page's own conditional or Range request, `no-store`). */
  | { kind: 'bypass' }
  /** Answer from the cache, these headers (Age brought up to date). */
  | { kind: 'hit'; entry: CacheEntry; headers: [string, string][] }
  /** Fetch with these extra headers (If-None-Match, If-Modified-Since); a 304 answers from `entry`. */
  | { kind: 'revalidate'; entry: CacheEntry; conditional: [string, string][] }
  /** Fetch; store the answer if it may be stored. */
  | { kind: 'miss' }
  /** `only-if-cached` with nothing stored: a network error, as the browser's. */
  | { kind: 'unavailable' };

/** Request headers that make a request the page's own conditional or partial one: the browser's cache stands aside (Fetch, "HTTP-network-or-cache fetch"). */
const PAGE_CONDITIONALS = new Set([
  'if-modified-since',
  'if-none-match',
  'if-unmodified-since',
  'if-match',
  'if-range',
  'range',
]);

const toRecord = (headers: readonly (readonly [string, string])[]): Record<string, string> => {
  const record: Record<string, string> = {};
  for (const [name, value] of headers) {
    const key = name.toLowerCase();
    record[key] = key in record ? `${record[key]}, ${value}` : value;
  }
  return record;
};

const toList = (headers: CachePolicy.Headers): [string, string][] =>
  Object.entries(headers).flatMap(([name, value]) =>
    value === undefined
      ? []
      : Array.isArray(value)
        ? value.map((each): [string, string] => [name, each])
        : [[name, value]],
  );

/**
 * The headers a stored answer is shown with: the policy's (a 304's updates merged, hop-by-hop ones
 * gone), without the Age and Date it adds where the origin sent none: the browser's own cache adds neither.
 */
const shownHeaders = (
  headers: CachePolicy.Headers,
  stored: readonly (readonly [string, string])[],
): [string, string][] => {
  const sent = new Set(stored.map(([name]) => name.toLowerCase()));
  return toList(headers).filter(([name]) => (name !== 'age' && name !== 'date') || sent.has(name));
};

/** The entry's key: one answer per URL per partition (a Vary mismatch is a miss, answered and stored anew). */
export const cacheKey = (partition: string, url: string): string => `${partition}\n${url}`;

export class RoutedCache {
  /** Bytes stored, as far as this cache knows (at least the truth: a replaced entry is counted twice until the next scan); null until the first scan. */
  private storedBytes: number | null = null;
  /** The keys stored, read once from the store: a request for anything else is a miss without a read (most of a first visit). */
  private keys: Promise<Set<string>> | null = null;
  /** Answers being written (or waiting for their check), by key. */
  private readonly writing = new Map<string, Promise<void>>();

  constructor(
    private readonly store: CacheStore,
    private readonly options: RoutedCacheOptions,
  ) {}

  private policyRequest(request: CachedRequest): CachePolicy.Request {
    return { url: request.url, method: request.method.toUpperCase(), headers: toRecord(request.headers) };
  }

  /** Whether `request` may use the cache at all (mode, method, the page's own validators). */
  private applies(request: CachedRequest): boolean {
    if (request.mode === 'no-store' || request.method.toUpperCase() !== 'GET') return false;
    return !request.headers.some(([name]) => PAGE_CONDITIONALS.has(name.toLowerCase()));
  }

  async decide(request: CachedRequest): Promise<CacheDecision> {
    if (!this.applies(request)) return { kind: 'bypass' };
    if (request.mode === 'reload') return { kind: 'miss' };
    const key = cacheKey(request.partition, request.url);
    await this.writing.get(key)?.catch(() => undefined);
    const entry = (await this.knownKeys()).has(key) ? await this.store.get(key) : undefined;
    if (!entry) return request.mode === 'only-if-cached' ? { kind: 'unavailable' } : { kind: 'miss' };
    const policy = CachePolicy.fromObject(entry.policy);
    // force-cache and only-if-cached take a stored answer that matches (Vary), fresh or not.
    const anyAge = request.mode === 'force-cache' || request.mode === 'only-if-cached';
    const asked = this.policyRequest(request);
    const evaluated = policy.evaluateRequest(
      anyAge ? { ...asked, headers: { ...asked.headers, 'cache-control': 'max-stale' } } : asked,
    );
    if (anyAge && evaluated.response) return this.hit(entry, shownHeaders(evaluated.response.headers, entry.headers));
    if (request.mode === 'only-if-cached') return { kind: 'unavailable' };
    const cappedFresh = this.options.now() - entry.storedAt < this.options.maxFreshMs();
    // stale-while-revalidate is taken as stale: revalidated before it answers.
    if (request.mode === 'default' && evaluated.response && !evaluated.revalidation && cappedFresh)
      return this.hit(entry, shownHeaders(evaluated.response.headers, entry.headers));
    const conditional = toList(policy.revalidationHeaders(this.policyRequest(request))).filter(([name]) =>
      /^if-(none-match|modified-since)$/.test(name),
    );
    return conditional.length > 0 ? { kind: 'revalidate', entry, conditional } : { kind: 'miss' };
  }

  private knownKeys(): Promise<Set<string>> {
    this.keys ??= this.store.metas().then(
      (metas) => new Set(metas.map((meta) => meta.key)),
      () => new Set<string>(),
    );
    return this.keys;
  }

  private hit(entry: CacheEntry, headers: [string, string][]): CacheDecision {
    // When it was last used, for eviction: written beside the answer, never before it.
    void this.store.touch(entry.key, this.options.now()).catch(() => undefined);
    return { kind: 'hit', entry, headers };
  }

  /**
   * A 304 for a revalidated entry: its stored headers are updated from the 304's, it is fresh again,
   * and it answers the page. Null when the 304 does not match what is stored (then fetch it whole).
   */
  async revalidated(
    request: CachedRequest,
    entry: CacheEntry,
    notModified: ResponseHead,
    exit: string,
  ): Promise<{ entry: CacheEntry; headers: [string, string][] } | null> {
    const policy = CachePolicy.fromObject(entry.policy);
    const {
      policy: updated,
      modified,
      matches,
    } = policy.revalidatedPolicy(this.policyRequest(request), {
      status: notModified.status,
      headers: toRecord(notModified.headers),
    });
    if (modified || !matches) return null;
    const now = this.options.now();
    const headers = shownHeaders(updated.responseHeaders(), entry.headers);
    const refreshed: CacheEntry = { ...entry, policy: updated.toObject(), headers, exit, storedAt: now, usedAt: now };
    if (updated.storable()) await this.store.put(refreshed);
    else {
      (await this.knownKeys()).delete(entry.key);
      await this.store.delete([entry.key]);
    }
    return { entry: refreshed, headers };
  }

  /** Whether an answer may be kept: the cache applies, the policy says storable, a whole 200 not too large. */
  storable(request: CachedRequest, head: ResponseHead): boolean {
    return this.storablePolicy(request, head) !== null;
  }

  /** The policy of an answer that may be kept (see `storable`), or null: built once per answer kept. */
  private storablePolicy(request: CachedRequest, head: ResponseHead): CachePolicy | null {
    if (!this.applies(request) || head.status !== 200 || head.redirected || head.opaqueRedirect) return null;
    const length = head.headers.find(([name]) => name.toLowerCase() === 'content-length')?.[1];
    if (length !== undefined && Number(length) > MAX_CACHED_BODY_BYTES) return null;
    const policy = new CachePolicy(
      this.policyRequest(request),
      { status: head.status, headers: toRecord(head.headers) },
      { shared: false },
    );
    return policy.storable() ? policy : null;
  }

  /**
   * Keeps a whole answer, then evicts the least recently used entries over the byte cap. A lookup of
   * the same key meanwhile waits for it, as the browser's cache has an answer once it ended. With
   * `caught`, the answer is kept only if that resolves false (its exit was not caught altering it).
   */
  put(
    request: CachedRequest,
    head: ResponseHead,
    body: Uint8Array,
    exit: string,
    caught?: Promise<boolean>,
  ): Promise<void> {
    const key = cacheKey(request.partition, request.url);
    const writing = (caught ?? Promise.resolve(false))
      .then((altered) => (altered ? undefined : this.write(request, head, body, exit)))
      .finally(() => {
        if (this.writing.get(key) === writing) this.writing.delete(key);
      });
    this.writing.set(key, writing);
    return writing;
  }

  private async write(request: CachedRequest, head: ResponseHead, body: Uint8Array, exit: string): Promise<void> {
    const policy = body.byteLength > MAX_CACHED_BODY_BYTES ? null : this.storablePolicy(request, head);
    if (!policy) return;
    const now = this.options.now();
    const key = cacheKey(request.partition, request.url);
    await this.store.put({
      key,
      partition: request.partition,
      url: request.url,
      policy: policy.toObject(),
      status: head.status,
      statusText: head.statusText,
      headers: head.headers,
      body,
      exit,
      storedAt: now,
      usedAt: now,
    });
    (await this.knownKeys()).add(key);
    if (this.storedBytes !== null) this.storedBytes += body.byteLength;
    // The store is read whole only when the count says the cap may be passed (a page stores dozens at once).
    if (this.storedBytes === null || this.storedBytes > this.options.maxBytes()) await this.evict();
  }

  /** Least recently used first, until the whole fits the cap. */
  async evict(): Promise<void> {
    const metas = await this.store.metas();
    let total = metas.reduce((sum, meta) => sum + meta.size, 0);
    const cap = this.options.maxBytes();
    const gone: string[] = [];
    for (const meta of metas.sort((a, b) => a.usedAt - b.usedAt)) {
      if (total <= cap) break;
      gone.push(meta.key);
      total -= meta.size;
    }
    this.storedBytes = total;
    const keys = await this.knownKeys();
    for (const key of gone) keys.delete(key);
    await this.store.delete(gone);
  }

  /** An exit caught altering answers: nothing it supplied is used again. Returns how many entries went. */
  async dropExit(exit: string): Promise<number> {
    const gone = (await this.store.metas()).filter((meta) => meta.exit === exit).map((meta) => meta.key);
    await this.store.delete(gone);
    this.storedBytes = null;
    this.keys = null;
    return gone.length;
  }

  clear(): Promise<void> {
    this.storedBytes = null;
    this.keys = null;
    return this.store.clear();
  }
}
