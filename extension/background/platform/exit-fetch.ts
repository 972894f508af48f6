import { afterRedirect } from '../../core/http/redirect-method';
import { errorText, PeerlaneError } from '../../core/errors';
import type { ExitFetcher, ExitFetchResponse } from '../../core/exit/exit-service';
import { dialAddress, judgeAddresses, urlDialledTo } from '../../core/exit/name-lookup';
import { checkDestination, isAddressLiteral, isPrivateAddress, type ExitPolicyOptions } from '../../core/exit/policy';
import type { NameLookup } from './name-lookups';
import type { RedirectHop } from '../../core/protocol/frames';

/**
 * The exit's own fetch, shared by both browsers: no credentials, no cache, and redirects followed
 * by hand (`redirect: 'manual'`), at most MAX_REDIRECTS. Each hop is judged three times: by the exit
 * policy (scheme, port, method, literals, local names), by what its name resolves to before a packet
 * goes out (the browser's look-up; plain HTTP then dialled to the judged address), and by the address
 * it connected to before any of the response is used. Fetch hides a manual redirect's Location (an
 * opaque-redirect response), so each browser's check reports it from `webRequest` along with the IP.
 */
export interface Connection {
  ip: string | null;
  /** A redirect response's Location as sent (resolved here against the URL asked for, not the address dialled), or null. */
  location: string | null;
  /** The response's status as webRequest saw it (fetch hides a manual redirect's), or null. */
  status: number | null;
  /** A redirect response's Access-Control-Allow-* headers (fetch hides them too): the page's CORS check of each hop. */
  corsHeaders: [string, string][];
}

/** What a fetch that failed or was aborted reports: nothing known. */
export const NO_CONNECTION: Connection = { ip: null, location: null, status: null, corsHeaders: [] };

/**
 * Sets headers fetch() forbids (a name and its value; null: remove it) on the request `run` makes to
 * `url` with `method`, for as long as `run` takes. Both hosts pass one (forbidden-headers.ts:
 * a declarativeNetRequest rule); without it the request goes as fetch sends it.
 */
export type ForbiddenHeaders = <T>(
  url: string,
  method: string,
  headers: [string, string | null][],
  run: () => Promise<T>,
) => Promise<T>;

/** Each browser's two looks at a destination: its name before connecting, the address it connected to after. */
export interface AddressCheck {
  lookup: NameLookup;
  /** Registers a fetch of `url` about to start; the function returned resolves to what it connected to once its head (or an error) arrives. */
  watch(url: string, signal: AbortSignal): () => Promise<Connection>;
}

/** The refusal for a connected address that is private, or for none at all (the exit cannot vouch for it). */
function connectedRefusal(url: string, ip: string | null, allowList: readonly string[]): PeerlaneError | null {
  if (ip !== null && !isPrivateAddress(ip, allowList)) return null;
  if (ip === null) return new PeerlaneError('destination_refused', 'exit could not verify the address it connected to');
  return new PeerlaneError('destination_refused', `${new URL(url).hostname} resolved to private address ${ip}`);
}

/**
 * Where a hop is dialled: a name is looked up and judged first, and a plain-HTTP request goes to
 * the judged address itself with `Host` kept (core/exit/name-lookup.ts); an address literal was
 * judged by the policy already.
 */
async function dialFor(
  url: string,
  check: AddressCheck,
  policy: ExitPolicyOptions,
  signal: AbortSignal,
): Promise<{ dialUrl: string; host: [string, string][] }> {
  const target = new URL(url);
  if (isAddressLiteral(target.hostname)) return { dialUrl: url, host: [] };
  const addresses = await check.lookup(target.hostname, policy, signal);
  const refusal = judgeAddresses(target.hostname, addresses, policy.privateAllowList);
  if (refusal) throw refusal;
  if (target.protocol !== 'http:') return { dialUrl: url, host: [] };
  // What both browsers offer a plain-HTTP name; by address, a loopback one (a secure context) would get `br` and `zstd` too.
  return {
    dialUrl: urlDialledTo(target, dialAddress(addresses)),
    host: [
      ['host', target.host],
      ['accept-encoding', 'gzip, deflate'],
    ],
  };
}

export const MAX_REDIRECTS = 5;

async function* bodyOf(response: Response, signal: AbortSignal): AsyncIterable<Uint8Array> {
  if (!response.body) return;
  const reader = response.body.getReader();
  const onAbort = (): void => void reader.cancel(signal.reason).catch(() => undefined);
  signal.addEventListener('abort', onAbort, { once: true });
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        finished = true;
        return;
      }
      yield value;
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    // Leaving early (the requester cancelled, a write failed) must close the origin connection.
    if (!finished) await reader.cancel().catch(() => undefined);
    reader.releaseLock();
  }
}

export function createExitFetcher(
  check: AddressCheck,
  forbidden: ForbiddenHeaders = (_url, _method, _headers, run) => run(),
): ExitFetcher {
  return async (request, signal, policy): Promise<ExitFetchResponse> => {
    // Lives as long as the stream: a CANCEL that arrives while the body streams must abort the fetch.
    const controller = new AbortController();
    const forward = (): void => controller.abort(signal.reason);
    if (signal.aborted) forward();
    signal.addEventListener('abort', forward, { once: true });
    let url = request.url;
    let method = request.method;
    let headers = request.headers;
    // Sent on the first hop and again after a 307/308; a redirect that turns the request into a GET drops it (core/http/redirect-method.ts).
    let body =
      request.body && request.body.byteLength > 0 && method !== 'GET' && method !== 'HEAD' ? request.body : null;
    const redirectHops: RedirectHop[] = [];
    for (let hop = 0; ; hop += 1) {
      if (hop > 0) {
        // A redirect is a new destination: the whole policy again (scheme, port, names, literals).
        const verdict = checkDestination(url, method, policy);
        if (!verdict.allowed) {
          controller.abort();
          throw new PeerlaneError(verdict.error.category, `redirect refused: ${verdict.error.message}`);
        }
        url = verdict.url.href;
      }
      let dial: { dialUrl: string; host: [string, string][] };
      try {
        dial = await dialFor(url, check, policy, controller.signal);
      } catch (error) {
        controller.abort();
        throw error;
      }
      const { dialUrl } = dial;
      const connected = check.watch(dialUrl, controller.signal);
      let response: Response;
      try {
        const sent = { method, headers, body };
        response = await forbidden(dialUrl, method, [...request.forbiddenHeaders, ...dial.host], () =>
          fetch(dialUrl, {
            ...sent,
            credentials: 'omit',
            cache: 'no-store',
            redirect: 'manual',
            referrerPolicy: 'no-referrer',
            signal: controller.signal,
          }),
        );
      } catch (error) {
        if (controller.signal.aborted) throw controller.signal.reason;
        // A failure at a private address is a refusal, final, never a fault worth another attempt.
        const { ip } = await connected();
        const refusal = ip === null ? null : connectedRefusal(url, ip, policy.privateAllowList);
        if (refusal) throw refusal;
        throw new PeerlaneError('exit_fetch_failed', `exit could not fetch: ${errorText(error)}`);
      }
      const { ip, location, status, corsHeaders } = await connected();
      const refusal = connectedRefusal(url, ip, policy.privateAllowList);
      if (refusal) {
        controller.abort();
        throw refusal;
      }
      if (response.type !== 'opaqueredirect') {
        return {
          head: {
            status: response.status,
            statusText: response.statusText.slice(0, 256),
            headers: [...response.headers],
            url,
            redirected: hop > 0,
            ...(redirectHops.length > 0 ? { redirectHops } : {}),
          },
          body: method === 'HEAD' ? null : bodyOf(response, controller.signal),
        };
      }
      if (request.redirect !== 'follow') {
        // The page asked not to follow (manual: it gets an opaque redirect; error: a network error):
        // the exit's fetch saw what the page's would, a redirect with nothing readable.
        controller.abort();
        return {
          head: { status: 302, statusText: '', headers: [], url, redirected: hop > 0, opaqueRedirect: true },
          body: null,
        };
      }
      if (hop >= MAX_REDIRECTS) {
        controller.abort();
        // The destination's doing, not the exit's network: not worth a retry elsewhere.
        throw new PeerlaneError('too_many_redirects', `more than ${MAX_REDIRECTS} redirects`);
      }
      if (!location) {
        controller.abort();
        throw new PeerlaneError(
          'exit_fetch_failed',
          'the destination redirected, and the exit could not read where to',
        );
      }
      redirectHops.push({ url, headers: corsHeaders });
      url = new URL(location, url).href;
      ({ method, headers, body } = afterRedirect(status, { method, headers, body }));
    }
  };
}
