import browser, { type WebRequest } from 'webextension-polyfill';
import type { AddressCheck, Connection } from './exit-fetch';
import { NO_CONNECTION } from './exit-fetch';
import { createFirefoxLookup } from './name-lookups';
import { UrlWaiters } from './url-waiters';
import { corsHeadersOf } from '../../core/http/cors';
import { headerPairs, headerValue } from '../../core/http/headers';

/**
 * Firefox: two looks at the destination. Before the fetch, `dns.resolve`, the resolver Firefox itself
 * connects with (name-lookups.ts); after it, the address the request actually connected to, from
 * `webRequest.onResponseStarted` (`ip`: measured present for background fetches, manual redirects
 * included), which covers a name that changed its answer in between (DNS rebinding). A redirect's
 * target, hidden from fetch, comes from the same event (matched by request id, background requests only).
 */
const HEADERS_TIMEOUT_MS = 5000;

export function createFirefoxAddressCheck(): AddressCheck {
  const waiters = new UrlWaiters<Connection>(NO_CONNECTION);
  const filter: WebRequest.RequestFilter = { urls: ['<all_urls>'], tabId: -1 };
  // Fetches start in the order their waiters registered: each gets its request id here (url-waiters.ts).
  browser.webRequest.onBeforeRequest.addListener((details) => {
    waiters.bind(details.url, details.requestId);
    return undefined;
  }, filter);
  browser.webRequest.onResponseStarted.addListener(
    (details) => {
      const location =
        details.statusCode >= 300 && details.statusCode <= 399
          ? headerValue(headerPairs(details.responseHeaders), 'location')
          : null;
      waiters.settle(
        details.url,
        {
          ip: details.ip ?? null,
          location,
          status: details.statusCode,
          corsHeaders: corsHeadersOf(details.responseHeaders),
        },
        details.requestId,
      );
    },
    filter,
    ['responseHeaders'],
  );
  browser.webRequest.onErrorOccurred.addListener(
    (details) =>
      waiters.settle(details.url, { ...NO_CONNECTION, ip: (details as { ip?: string }).ip ?? null }, details.requestId),
    filter,
  );
  return {
    lookup: createFirefoxLookup((hostname) => browser.dns.resolve(hostname)),
    watch: (url, signal) => waiters.wait(url, signal, HEADERS_TIMEOUT_MS),
  };
}
