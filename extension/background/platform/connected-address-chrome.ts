import type { AddressCheck, Connection } from './exit-fetch';
import { UrlWaiters } from './url-waiters';
import { corsHeadersOf } from '../../core/http/cors';

/**
 * Chrome: the IP a request actually connected to, from `webRequest.onResponseStarted` (measured to
 * fire for the extension's own fetches, ARCHITECTURE.md, "The exit's address checks"), and a redirect's target from
 * `onBeforeRedirect`/`onHeadersReceived` (fetch hides it). Events are matched to our fetches by the
 * request id bound at `onBeforeRequest` (url-waiters.ts); requests from tabs are ignored (tabId -1 filter) and so are other initiators.
 */
const VERIFY_TIMEOUT_MS = 5000;

export function createChromeAddressCheck(): AddressCheck {
  const waiters = new UrlWaiters<Connection>({ ip: null, redirectTo: null, status: null, corsHeaders: [] });
  const ownInitiator = `chrome-extension://${chrome.runtime.id}`;
  const ours = (initiator: string | undefined): boolean => initiator === undefined || initiator === ownInitiator;
  const settle = (details: { url: string; requestId: string; initiator?: string }, connection: Connection): void => {
    if (ours(details.initiator)) waiters.settle(details.url, connection, details.requestId);
  };
  const locationOf = (details: chrome.webRequest.OnResponseStartedDetails): string | null => {
    if (details.statusCode < 300 || details.statusCode > 399) return null;
    const header = details.responseHeaders?.find((entry) => entry.name.toLowerCase() === 'location')?.value;
    return header ? new URL(header, details.url).href : null;
  };
  const filter: chrome.webRequest.RequestFilter = { urls: ['<all_urls>'], tabId: -1 };
  // Fetches start in the order their waiters registered: each gets its request id here.
  chrome.webRequest.onBeforeRequest.addListener((details) => {
    if (ours(details.initiator)) waiters.bind(details.url, details.requestId);
    return undefined;
  }, filter);
  chrome.webRequest.onResponseStarted.addListener((details) => settle(details, { ip: details.ip ?? null, redirectTo: locationOf(details), status: details.statusCode, corsHeaders: corsHeadersOf(details.responseHeaders) }), filter, ['responseHeaders']);
  chrome.webRequest.onBeforeRedirect.addListener((details) => settle(details, { ip: details.ip ?? null, redirectTo: details.redirectUrl, status: details.statusCode, corsHeaders: corsHeadersOf(details.responseHeaders) }), filter, ['responseHeaders']);
  chrome.webRequest.onErrorOccurred.addListener((details) => settle(details, { ip: null, redirectTo: null, status: null, corsHeaders: [] }), filter);
  // Chrome offers no lookup before connecting: only the connected address is judged.
  return { before: async (url, signal) => ({ resolved: null, connected: waiters.wait(url, signal, VERIFY_TIMEOUT_MS) }) };
}
