import browser, { type Permissions } from 'webextension-polyfill';
import { uncovered } from '../core/access/site-access';

/**
 * Asks the browser for site access from inside a click: Firefox (and Chrome) accept
 * `permissions.request` only while handling user input, so `request` must be called before any
 * await in the handler. The granted origins are kept current from the permission events, so the
 * click knows at once whether it needs to ask at all (no prompt when already allowed).
 */
export class SiteAccessRequester {
  private granted: string[] = [];

  constructor() {
    const reload = (): Promise<void> =>
      browser.permissions.getAll().then((all: Permissions.AnyPermissions) => {
        this.granted = all.origins ?? [];
      });
    void reload();
    browser.permissions.onAdded.addListener(() => void reload());
    browser.permissions.onRemoved.addListener(() => void reload());
  }

  /** Of `patterns`, those the browser does not allow now (asked afresh, not from the cache). */
  async missingNow(patterns: readonly string[]): Promise<string[]> {
    return uncovered(patterns, (await browser.permissions.getAll()).origins ?? []);
  }

  /** Call synchronously in the click handler. Resolves true when everything asked for is allowed. */
  request(patterns: readonly string[]): Promise<boolean> {
    const missing = uncovered(patterns, this.granted);
    if (missing.length === 0) return Promise.resolve(true);
    return browser.permissions.request({ origins: missing }).catch((error: unknown) => {
      console.warn('[peerlane] permission request failed', error);
      return false;
    });
  }
}
