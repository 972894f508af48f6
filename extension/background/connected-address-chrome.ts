import type { AddressCheck } from './exit-fetch';

/**
 * Chrome: the IP a request actually connected to, from `webRequest.onResponseStarted` (measured to
 * fire for the extension's own fetches, DESIGN.md §6). Events are matched to our fetches by URL, oldest
 * first; requests from tabs are ignored (tabId -1 filter) and so are other initiators.
 */
const VERIFY_TIMEOUT_MS = 5000;

export function createChromeAddressCheck(): AddressCheck {
  const waiting = new Map<string, ((ip: string | null) => void)[]>();
  const ownInitiator = `chrome-extension://${chrome.runtime.id}`;
  const settle = (url: string, ip: string | null, initiator: string | undefined): void => {
    if (initiator !== undefined && initiator !== ownInitiator) return;
    const queue = waiting.get(url);
    const next = queue?.shift();
    if (queue && queue.length === 0) waiting.delete(url);
    next?.(ip);
  };
  const filter: chrome.webRequest.RequestFilter = { urls: ['<all_urls>'], tabId: -1 };
  chrome.webRequest.onResponseStarted.addListener((details) => settle(details.url, details.ip ?? null, details.initiator), filter);
  chrome.webRequest.onBeforeRedirect.addListener((details) => settle(details.url, details.ip ?? null, details.initiator), filter);
  chrome.webRequest.onErrorOccurred.addListener((details) => settle(details.url, null, details.initiator), filter);

  return {
    before: async (url, signal) => {
      let resolveIp: (ip: string | null) => void = () => undefined;
      const ip = new Promise<string | null>((resolve) => {
        resolveIp = resolve;
      });
      const queue = waiting.get(url) ?? [];
      queue.push(resolveIp);
      waiting.set(url, queue);
      const forget = (): void => {
        const list = waiting.get(url);
        const index = list?.indexOf(resolveIp) ?? -1;
        if (list && index >= 0) list.splice(index, 1);
        if (list && list.length === 0) waiting.delete(url);
        resolveIp(null);
      };
      signal.addEventListener('abort', forget, { once: true });
      return () => {
        const timer = setTimeout(forget, VERIFY_TIMEOUT_MS);
        return ip.finally(() => clearTimeout(timer));
      };
    },
  };
}
