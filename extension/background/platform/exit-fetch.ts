import { afterRedirect } from '../../core/http/redirect-method';
import { PeerlaneError } from '../../core/errors';
import type { ExitFetcher, ExitFetchResponse } from '../../core/exit/exit-service';
import { checkDestination, isPrivateAddress } from '../../core/exit/policy';
import type { RedirectHop } from '../../core/protocol/frames';

/**
 * The exit's own fetch, shared by both browsers: no credentials, no cache, and redirects followed
 * by hand (`redirect: 'manual'`), each hop judged by the exit policy and by the address it connected
 * to before the next one, at most MAX_REDIRECTS. Fetch hides a manual redirect's Location (an
 * opaque-redirect response), so each browser's check reports it from `webRequest` along with the IP.
 */
export interface Connection {
  ip: string | null;
  /** The Location of a redirect response, absolute, or null. */
  redirectTo: string | null;
  /** The response's status as webRequest saw it (fetch hides a manual redirect's), or null. */
  status: number | null;
  /** A redirect response's Access-Control-Allow-* headers (fetch hides them too): the page's CORS check of each hop. */
  corsHeaders: [string, string][];
}

/**
 * Sets headers fetch() forbids (a name and its value; null: remove it) on the request `run` makes to
 * `url` with `method`, for as long as `run` takes. Both hosts pass one (forbidden-headers.ts:
 * a declarativeNetRequest rule); without it the request goes as fetch sends it.
 */
export type ForbiddenHeaders = <T>(url: string, method: string, headers: [string, string | null][], run: () => Promise<T>) => Promise<T>;

export interface AddressCheck {
  /**
   * Called before fetch. `resolved` is an address known before connecting (Firefox's `dns.resolve`;
   * null where the browser cannot tell), judged before a byte leaves; `connected` resolves to what
   * the fetch connected to once headers arrive, judged before the response is used.
   */
  before(url: string, signal: AbortSignal): Promise<{ resolved: string | null; connected: () => Promise<Connection> }>;
}

/** The refusal for an address that is private, or for none at all (the exit cannot vouch for it). */
function addressRefusal(url: string, ip: string | null, when: 'resolved' | 'connected', allowList: readonly string[]): PeerlaneError | null {
  if (ip !== null && !isPrivateAddress(ip, allowList)) return null;
  const host = new URL(url).hostname;
  if (ip === null) return new PeerlaneError('destination_refused', 'exit could not verify the address it connected to');
  return new PeerlaneError('destination_refused', when === 'resolved' ? `${host} resolves to private address ${ip}` : `${host} resolved to private address ${ip}`);
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

export function createExitFetcher(check: AddressCheck, forbidden: ForbiddenHeaders = (_url, _method, _headers, run) => run()): ExitFetcher {
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
    let body = request.body && request.body.byteLength > 0 && method !== 'GET' && method !== 'HEAD' ? request.body : null;
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
      const { resolved, connected } = await check.before(url, controller.signal);
      const early = resolved === null ? null : addressRefusal(url, resolved, 'resolved', policy.privateAllowList);
      if (early) {
        controller.abort();
        throw early;
      }
      let response: Response;
      try {
        const sent = { method, headers, body };
        response = await forbidden(url, method, request.forbiddenHeaders, () =>
          fetch(url, {
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
        throw new PeerlaneError('exit_fetch_failed', `exit could not fetch: ${error instanceof Error ? error.message : String(error)}`);
      }
      const { ip, redirectTo, status, corsHeaders } = await connected();
      const refusal = addressRefusal(url, ip, 'connected', policy.privateAllowList);
      if (refusal) {
        controller.abort();
        throw refusal;
      }
      if (response.type !== 'opaqueredirect') {
        return {
          head: { status: response.status, statusText: response.statusText.slice(0, 256), headers: [...response.headers], url, redirected: hop > 0, ...(redirectHops.length > 0 ? { redirectHops } : {}) },
          body: method === 'HEAD' ? null : bodyOf(response, controller.signal),
        };
      }
      if (request.redirect !== 'follow') {
        // The page asked not to follow (manual: it gets an opaque redirect; error: a network error):
        // the exit's fetch saw what the page's would, a redirect with nothing readable.
        controller.abort();
        return { head: { status: 302, statusText: '', headers: [], url, redirected: hop > 0, opaqueRedirect: true }, body: null };
      }
      if (hop >= MAX_REDIRECTS) {
        controller.abort();
        // The destination's doing, not the exit's network: not worth a retry elsewhere.
        throw new PeerlaneError('too_many_redirects', `more than ${MAX_REDIRECTS} redirects`);
      }
      if (!redirectTo) {
        controller.abort();
        throw new PeerlaneError('exit_fetch_failed', 'the destination redirected, and the exit could not read where to');
      }
      redirectHops.push({ url, headers: corsHeaders });
      url = new URL(redirectTo, url).href;
      ({ method, headers, body } = afterRedirect(status, { method, headers, body }));
    }
  };
}
