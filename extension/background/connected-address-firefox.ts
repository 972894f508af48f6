import browser from 'webextension-polyfill';
import { isPrivateAddress } from '../core/exit/policy';
import type { AddressCheck } from './exit-fetch';

/**
 * Firefox: resolve the name first with `dns.resolve` and report the first private address found, or
 * the first address. A name that changes its answer between this check and the fetch (DNS rebinding)
 * is the honest limit of this approach; Firefox's own DNS cache makes the window small.
 */
export function createFirefoxAddressCheck(): AddressCheck {
  return {
    before: async (url) => {
      const hostname = new URL(url).hostname.replace(/^\[|\]$/g, '');
      let addresses: string[];
      try {
        addresses = (await browser.dns.resolve(hostname)).addresses;
      } catch {
        addresses = [];
      }
      const chosen = addresses.find((address) => isPrivateAddress(address)) ?? addresses[0] ?? null;
      return async () => chosen;
    },
  };
}
