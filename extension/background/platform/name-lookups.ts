import { errorText, PeerlaneError } from '../../core/errors';
import {
  dohQueryUrl,
  LookupCache,
  LOOKUP_TIMEOUT_MS,
  readDohAnswer,
  type AddressType,
} from '../../core/exit/name-lookup';
import type { ExitPolicyOptions } from '../../core/exit/policy';

/**
 * The exit's look-up of a destination name before it connects (core/exit/name-lookup.ts says what
 * is done with the answer). Resolves to every address the name has, [] when it has none; rejects
 * with `exit_fetch_failed` when the resolver cannot answer, so the exit refuses rather than
 * connecting unchecked.
 */
export type NameLookup = (hostname: string, policy: ExitPolicyOptions, signal: AbortSignal) => Promise<string[]>;

/** Settles with `work`, or rejects at once when `signal` aborts (the work, shared, goes on for others). */
function untilAborted<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

const lookupFailed = (hostname: string, why: string): PeerlaneError =>
  new PeerlaneError('exit_fetch_failed', `the exit could not look up ${hostname} (${why}), so it did not connect`);

/**
 * Chromium: DNS over HTTPS (RFC 8484) to the resolver in the settings, A and AAAA at once. Answers
 * are cached for their TTL (at most 5 min) and one look-up serves every request that asks for the
 * same name meanwhile: a page's fifty requests to one host cost one round trip to the resolver.
 */
export function createDohLookup(
  fetchImpl: typeof fetch = (input, init) => fetch(input, init),
  now: () => number = Date.now,
): NameLookup {
  const cache = new LookupCache(now);
  const inFlight = new Map<string, Promise<string[]>>();

  const ask = async (
    resolverUrl: string,
    hostname: string,
    type: AddressType,
    signal: AbortSignal,
  ): Promise<{ addresses: string[]; ttlSeconds: number }> => {
    let response: Response;
    try {
      response = await fetchImpl(dohQueryUrl(resolverUrl, hostname, type), {
        headers: { accept: 'application/dns-message' },
        credentials: 'omit',
        cache: 'no-store',
        referrerPolicy: 'no-referrer',
        signal,
      });
    } catch (error) {
      throw lookupFailed(
        hostname,
        signal.aborted
          ? `the resolver did not answer within ${LOOKUP_TIMEOUT_MS / 1000} s`
          : `the resolver is unreachable: ${errorText(error)}`,
      );
    }
    if (!response.ok) throw lookupFailed(hostname, `the resolver answered HTTP ${response.status}`);
    const answer = readDohAnswer(new Uint8Array(await response.arrayBuffer()));
    if (answer.rcode === 'NXDOMAIN') return { addresses: [], ttlSeconds: 0 };
    if (answer.rcode !== 'NOERROR') throw lookupFailed(hostname, `the resolver answered ${answer.rcode}`);
    return answer;
  };

  const lookUp = async (resolverUrl: string, hostname: string, key: string): Promise<string[]> => {
    const signal = AbortSignal.timeout(LOOKUP_TIMEOUT_MS);
    // Both families or nothing: an address family left unasked could be the private one.
    const [v4, v6] = await Promise.all([
      ask(resolverUrl, hostname, 'A', signal),
      ask(resolverUrl, hostname, 'AAAA', signal),
    ]);
    const addresses = [...v4.addresses, ...v6.addresses];
    const ttls = [v4, v6].filter((answer) => answer.addresses.length > 0).map((answer) => answer.ttlSeconds);
    cache.set(key, addresses, ttls.length > 0 ? Math.min(...ttls) : 0);
    return addresses;
  };

  return (hostname, policy, signal) => {
    const key = `${policy.resolverUrl} ${hostname}`;
    const cached = cache.get(key);
    if (cached) return Promise.resolve(cached);
    let pending = inFlight.get(key);
    if (!pending) {
      pending = lookUp(policy.resolverUrl, hostname, key).finally(() => inFlight.delete(key));
      inFlight.set(key, pending);
    }
    return untilAborted(pending, signal);
  };
}

/** Firefox: its own resolver, the one its connection will use (`dns.resolve`, the `dns` permission). */
export function createFirefoxLookup(resolve: (hostname: string) => Promise<{ addresses: string[] }>): NameLookup {
  return async (hostname, _policy, signal) => {
    try {
      return (await untilAborted(resolve(hostname), signal)).addresses;
    } catch (error) {
      if (signal.aborted) throw signal.reason;
      const message = errorText(error);
      // Firefox names a missing name NS_ERROR_UNKNOWN_HOST; anything else is the resolver's failure.
      if (/UNKNOWN_HOST/.test(message)) return [];
      throw lookupFailed(hostname, message);
    }
  };
}
