import browser, { type WebRequest } from 'webextension-polyfill';
import { isPrivateAddress } from '../core/exit/policy';
import type { AddressCheck, Connection } from './exit-fetch';
import { UrlWaiters } from './url-waiters';

/**
 * Firefox: resolve the name first with `dns.resolve` and report the first private address found, or
 * the first address. A name that changes its answer between this check and the fetch (DNS rebinding)
 * is the honest limit of this approach; Firefox's own DNS cache makes the window small.
 * A redirect's target, hidden from fetch, comes from `webRequest.onHeadersReceived` (matched by URL,
 * oldest first, background requests only).
 */
const HEADERS_TIMEOUT_MS = 5000;

export function createFirefoxAddressCheck(): AddressCheck {
  const waiters = new UrlWaiters<string | null>(null);
  const filter: WebRequest.RequestFilter = { urls: ['<all_urls>'], tabId: -1 };
  browser.webRequest.onHeadersReceived.addListener(
    (details) => {
      const location = details.statusCode >= 300 && details.statusCode <= 399 ? details.responseHeaders?.find((header) => header.name.toLowerCase() === 'location')?.value : undefined;
      waiters.settle(details.url, location ? new URL(location, details.url).href : null);
    },
    filter,
    ['responseHeaders'],
  );
  browser.webRequest.onErrorOccurred.addListener((details) => waiters.settle(details.url, null), filter);

  return {
    before: async (url, signal) => {
      const hostname = new URL(url).hostname.replace(/^\[|\]$/g, '');
      let addresses: string[];
      try {
        addresses = (await browser.dns.resolve(hostname)).addresses;
      } catch {
        addresses = [];
      }
      const ip = addresses.find((address) => isPrivateAddress(address)) ?? addresses[0] ?? null;
      const redirect = waiters.wait(url, signal, HEADERS_TIMEOUT_MS);
      return async (): Promise<Connection> => ({ ip, redirectTo: await redirect() });
    },
  };
}
