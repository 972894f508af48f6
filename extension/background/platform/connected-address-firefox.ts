import browser, { type WebRequest } from 'webextension-polyfill';
import { isPrivateAddress } from '../../core/exit/policy';
import type { AddressCheck, Connection } from './exit-fetch';
import { UrlWaiters } from './url-waiters';
import { corsHeadersOf } from '../../core/http/cors';

/**
 * Firefox: two looks at the destination. Before the fetch, `dns.resolve` (a name with any private
 * answer is refused); after it, the address the request actually connected to, from
 * `webRequest.onResponseStarted` (`ip`: measured present for background fetches, manual redirects
 * included). The second look closes the window in which a name could change its answer (DNS
 * rebinding). The first private address of either look is reported, else the connected one.
 * A redirect's target, hidden from fetch, comes from the same event (matched by URL, oldest first,
 * background requests only).
 */
const HEADERS_TIMEOUT_MS = 5000;

export function createFirefoxAddressCheck(): AddressCheck {
  const waiters = new UrlWaiters<Connection>({ ip: null, redirectTo: null, status: null, corsHeaders: [] });
  const filter: WebRequest.RequestFilter = { urls: ['<all_urls>'], tabId: -1 };
  // Fetches start in the order their waiters registered: each gets its request id here (url-waiters.ts).
  browser.webRequest.onBeforeRequest.addListener((details) => {
    waiters.bind(details.url, details.requestId);
    return undefined;
  }, filter);
  browser.webRequest.onResponseStarted.addListener(
    (details) => {
      const location = details.statusCode >= 300 && details.statusCode <= 399 ? details.responseHeaders?.find((header) => header.name.toLowerCase() === 'location')?.value : undefined;
      waiters.settle(details.url, { ip: details.ip ?? null, redirectTo: location ? new URL(location, details.url).href : null, status: details.statusCode, corsHeaders: corsHeadersOf(details.responseHeaders) }, details.requestId);
    },
    filter,
    ['responseHeaders'],
  );
  browser.webRequest.onErrorOccurred.addListener((details) => waiters.settle(details.url, { ip: null, redirectTo: null, status: null, corsHeaders: [] }, details.requestId), filter);

  return {
    before: async (url, signal) => {
      const hostname = new URL(url).hostname.replace(/^\[|\]$/g, '');
      let addresses: string[];
      try {
        addresses = (await browser.dns.resolve(hostname)).addresses;
      } catch {
        addresses = [];
      }
      const wait = waiters.wait(url, signal, HEADERS_TIMEOUT_MS);
      return {
        // Any private answer refuses the name before a byte leaves; no answer leaves it to the connected look.
        resolved: addresses.find((address) => isPrivateAddress(address)) ?? addresses[0] ?? null,
        connected: async (): Promise<Connection> => {
          const connection = await wait();
          const { ip } = connection;
          return { ...connection, ip: [ip, ...addresses].find((address) => address !== null && isPrivateAddress(address)) ?? ip };
        },
      };
    },
  };
}
