import { PeerlaneError } from '../core/errors';
import type { ExitFetcher, ExitFetchResponse } from '../core/exit/exit-service';
import { isPrivateAddress } from '../core/exit/policy';

/**
 * The exit's own fetch, shared by both browsers: no credentials, no cache, no automatic redirects
 * (a followed redirect could reach a private address before we could check it). Each browser adds
 * its check of the address actually connected to (`verifyAddress`).
 */
export interface AddressCheck {
  /** Called before fetch; returns a function resolving to the connected IP once headers arrive. */
  before(url: string, signal: AbortSignal): Promise<() => Promise<string | null>>;
}

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

export function createExitFetcher(check: AddressCheck): ExitFetcher {
  return async (request, signal, policy): Promise<ExitFetchResponse> => {
    // Lives as long as the stream: a CANCEL that arrives while the body streams must abort the fetch.
    const controller = new AbortController();
    const forward = (): void => controller.abort(signal.reason);
    if (signal.aborted) forward();
    signal.addEventListener('abort', forward, { once: true });
    const connectedAddress = await check.before(request.url, controller.signal);
    let response: Response;
    try {
      response = await fetch(request.url, {
        method: request.method,
        headers: request.headers,
        credentials: 'omit',
        cache: 'no-store',
        redirect: 'manual',
        referrerPolicy: 'no-referrer',
        signal: controller.signal,
      });
    } catch (error) {
      if (controller.signal.aborted) throw controller.signal.reason;
      throw new PeerlaneError('exit_fetch_failed', `exit could not fetch: ${error instanceof Error ? error.message : String(error)}`);
    }
    const address = await connectedAddress();
    if (!policy.allowPrivateTargets && (address === null || isPrivateAddress(address))) {
      controller.abort();
      throw new PeerlaneError(
        'destination_refused',
        address === null ? 'exit could not verify the address it connected to' : `${new URL(request.url).hostname} resolved to private address ${address}`,
      );
    }
    if (response.type === 'opaqueredirect') {
      controller.abort();
      throw new PeerlaneError('exit_fetch_failed', 'the destination redirected; exits do not follow redirects yet');
    }
    return {
      head: { status: response.status, statusText: response.statusText.slice(0, 256), headers: [...response.headers] },
      body: request.method === 'HEAD' ? null : bodyOf(response, controller.signal),
    };
  };
}
