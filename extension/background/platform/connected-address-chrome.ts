import type { AddressCheck, Connection } from './exit-fetch';
import { NO_CONNECTION } from './exit-fetch';
import { createDohLookup } from './name-lookups';
import { UrlWaiters } from './url-waiters';
import { corsHeadersOf } from '../../core/http/cors';
import { headerPairs, headerValue } from '../../core/http/headers';

/**
 * Chrome: names are looked up by DNS over HTTPS before connecting (Chrome gives extensions no DNS
 * API; name-lookups.ts). After connecting, the IP the request actually reached comes from
 * `webRequest.onResponseStarted` (measured to fire for the extension's own fetches, ARCHITECTURE.md,
 * "The exit's address checks") or `onErrorOccurred`, and a redirect's target from its headers
 * (fetch hides it). Events are matched to our fetches by the request id bound at `onBeforeRequest`
 * (url-waiters.ts); requests from tabs are ignored (tabId -1 filter) and so are other initiators.
 */
const VERIFY_TIMEOUT_MS = 5000;

export function createChromeAddressCheck(): AddressCheck {
  const waiters = new UrlWaiters<Connection>(NO_CONNECTION);
  const ownInitiator = `chrome-extension://${chrome.runtime.id}`;
  const ours = (initiator: string | undefined): boolean => initiator === undefined || initiator === ownInitiator;
  const settle = (details: { url: string; requestId: string; initiator?: string }, connection: Connection): void => {
    if (ours(details.initiator)) waiters.settle(details.url, connection, details.requestId);
  };
  const locationOf = (details: {
    statusCode: number;
    responseHeaders?: chrome.webRequest.HttpHeader[];
  }): string | null => {
    if (details.statusCode < 300 || details.statusCode > 399) return null;
    return headerValue(headerPairs(details.responseHeaders), 'location');
  };
  const filter: chrome.webRequest.RequestFilter = { urls: ['<all_urls>'], tabId: -1 };
  // Fetches start in the order their waiters registered: each gets its request id here.
  chrome.webRequest.onBeforeRequest.addListener((details) => {
    if (ours(details.initiator)) waiters.bind(details.url, details.requestId);
    return undefined;
  }, filter);
  chrome.webRequest.onResponseStarted.addListener(
    (details) =>
      settle(details, {
        ip: details.ip ?? null,
        location: locationOf(details),
        status: details.statusCode,
        corsHeaders: corsHeadersOf(details.responseHeaders),
      }),
    filter,
    ['responseHeaders'],
  );
  chrome.webRequest.onBeforeRedirect.addListener(
    (details) =>
      settle(details, {
        ip: details.ip ?? null,
        location: locationOf(details) ?? details.redirectUrl,
        status: details.statusCode,
        corsHeaders: corsHeadersOf(details.responseHeaders),
      }),
    filter,
    ['responseHeaders'],
  );
  // A request that failed after connecting still names the address it reached.
  chrome.webRequest.onErrorOccurred.addListener(
    (details) => settle(details, { ...NO_CONNECTION, ip: details.ip ?? null }),
    filter,
  );
  return { lookup: createDohLookup(), watch: (url, signal) => waiters.wait(url, signal, VERIFY_TIMEOUT_MS) };
}
