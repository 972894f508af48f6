import type { AddressCheck, Connection } from './exit-fetch';
import { UrlWaiters } from './url-waiters';

/**
 * Chrome: the IP a request actually connected to, from `webRequest.onResponseStarted` (measured to
 * fire for the extension's own fetches, ARCHITECTURE.md, "The exit's address checks"), and a redirect's target from
 * `onBeforeRedirect`/`onHeadersReceived` (fetch hides it). Events are matched to our fetches by URL,
 * oldest first; requests from tabs are ignored (tabId -1 filter) and so are other initiators.
 */
const VERIFY_TIMEOUT_MS = 5000;

export function createChromeAddressCheck(): AddressCheck {
  const waiters = new UrlWaiters<Connection>({ ip: null, redirectTo: null });
  const ownInitiator = `chrome-extension://${chrome.runtime.id}`;
  const settle = (url: string, connection: Connection, initiator: string | undefined): void => {
    if (initiator !== undefined && initiator !== ownInitiator) return;
    waiters.settle(url, connection);
  };
  const locationOf = (details: chrome.webRequest.OnResponseStartedDetails): string | null => {
    if (details.statusCode < 300 || details.statusCode > 399) return null;
    const header = details.responseHeaders?.find((entry) => entry.name.toLowerCase() === 'location')?.value;
    return header ? new URL(header, details.url).href : null;
  };
  const filter: chrome.webRequest.RequestFilter = { urls: ['<all_urls>'], tabId: -1 };
  chrome.webRequest.onResponseStarted.addListener(
    (details) => settle(details.url, { ip: details.ip ?? null, redirectTo: locationOf(details) }, details.initiator),
    filter,
    ['responseHeaders'],
  );
  chrome.webRequest.onBeforeRedirect.addListener((details) => settle(details.url, { ip: details.ip ?? null, redirectTo: details.redirectUrl }, details.initiator), filter);
  chrome.webRequest.onErrorOccurred.addListener((details) => settle(details.url, { ip: null, redirectTo: null }, details.initiator), filter);
  // Chrome offers no lookup before connecting: only the connected address is judged.
  return { before: async (url, signal) => ({ resolved: null, connected: waiters.wait(url, signal, VERIFY_TIMEOUT_MS) }) };
}
