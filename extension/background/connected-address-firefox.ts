import browser, { type WebRequest } from 'webextension-polyfill';
import { isPrivateAddress } from '../core/exit/policy';
import type { AddressCheck, Connection } from './exit-fetch';

/**
 * Firefox: resolve the name first with `dns.resolve` and report the first private address found, or
 * the first address. A name that changes its answer between this check and the fetch (DNS rebinding)
 * is the honest limit of this approach; Firefox's own DNS cache makes the window small.
 * A redirect's target, hidden from fetch, comes from `webRequest.onHeadersReceived` (matched by URL,
 * oldest first, background requests only).
 */
const HEADERS_TIMEOUT_MS = 5000;

export function createFirefoxAddressCheck(): AddressCheck {
  const waiting = new Map<string, ((redirectTo: string | null) => void)[]>();
  const settle = (url: string, redirectTo: string | null): void => {
    const queue = waiting.get(url);
    const next = queue?.shift();
    if (queue && queue.length === 0) waiting.delete(url);
    next?.(redirectTo);
  };
  const filter: WebRequest.RequestFilter = { urls: ['<all_urls>'], tabId: -1 };
  browser.webRequest.onHeadersReceived.addListener(
    (details) => {
      const location = details.statusCode >= 300 && details.statusCode <= 399 ? details.responseHeaders?.find((header) => header.name.toLowerCase() === 'location')?.value : undefined;
      settle(details.url, location ? new URL(location, details.url).href : null);
    },
    filter,
    ['responseHeaders'],
  );
  browser.webRequest.onErrorOccurred.addListener((details) => settle(details.url, null), filter);

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
      let resolveRedirect: (redirectTo: string | null) => void = () => undefined;
      const redirect = new Promise<string | null>((resolve) => {
        resolveRedirect = resolve;
      });
      const queue = waiting.get(url) ?? [];
      queue.push(resolveRedirect);
      waiting.set(url, queue);
      const forget = (): void => {
        const list = waiting.get(url);
        const index = list?.indexOf(resolveRedirect) ?? -1;
        if (list && index >= 0) list.splice(index, 1);
        if (list && list.length === 0) waiting.delete(url);
        resolveRedirect(null);
      };
      signal.addEventListener('abort', forget, { once: true });
      return async (): Promise<Connection> => {
        const timer = setTimeout(forget, HEADERS_TIMEOUT_MS);
        const redirectTo = await redirect.finally(() => clearTimeout(timer));
        return { ip, redirectTo };
      };
    },
  };
}
