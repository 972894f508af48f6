import puppeteer, { type Browser, type Page } from 'puppeteer-core';
import { resolve } from 'node:path';
import { POPUP_PORT_NAME, popupStateSchema, type PopupState } from '../../extension/core/channels/popup-channel';
import type { Settings } from '../../extension/core/settings';

/**
 * Debian's firefox-esr over WebDriver BiDi with the built extension (ARCHITECTURE.md, "Measured facts"). The extension's
 * internal UUID is pinned by pref so tests can open its pages by URL.
 */
export const FIREFOX_EXTENSION_DIR = resolve('dist/firefox');
export const FIREFOX_EXTENSION_UUID = '5f1e3c9a-7d64-4b7e-9a55-2d3c0f6b8e11';
export const FIREFOX_EXTENSION_ID = 'peerlane@peerlane.dev';

/**
 * Where Firefox runs when not here: an executable that starts it inside a network namespace
 * (test/helpers/netns.ts) and the port its WebDriver BiDi socket is carried out on
 * (test/helpers/ns-port-relay.py, which the caller runs).
 */
export interface FirefoxInNamespace {
  executablePath: string;
  debuggingPort: number;
}

/** Headless firefox-esr with the built extension installed, its UUID pinned, plus `prefs`. */
async function launchFirefox(
  prefs: Record<string, unknown>,
  acceptInsecureCerts = false,
  inNamespace?: FirefoxInNamespace,
): Promise<{ browser: Browser; baseUrl: string }> {
  const browser = await puppeteer.launch({
    ...(inNamespace ? { debuggingPort: inNamespace.debuggingPort } : {}),
    browser: 'firefox',
    // The session trusts any certificate: how a test makes Firefox trust its self-signed one.
    acceptInsecureCerts,
    executablePath: inNamespace?.executablePath ?? process.env.FIREFOX_PATH ?? '/usr/bin/firefox-esr',
    headless: true,
    // Firefox ≥ 153 lets WebDriver navigate to moz-extension:// pages only with system access.
    args: ['--remote-allow-system-access'],
    extraPrefsFirefox: {
      'extensions.webextensions.uuids': JSON.stringify({ [FIREFOX_EXTENSION_ID]: FIREFOX_EXTENSION_UUID }),
      ...prefs,
    },
  });
  await browser.installExtension(FIREFOX_EXTENSION_DIR);
  return { browser, baseUrl: `moz-extension://${FIREFOX_EXTENSION_UUID}` };
}

/** `colorScheme` forces the pages' prefers-color-scheme (BiDi has no media emulation). */
export function launchFirefoxWithExtension(
  options: { colorScheme?: 'light' | 'dark' } = {},
): Promise<{ browser: Browser; baseUrl: string }> {
  return launchFirefox(
    options.colorScheme
      ? { 'layout.css.prefers-color-scheme.content-override': options.colorScheme === 'dark' ? 0 : 1 }
      : {},
  );
}

/**
 * Opens an extension page. Firefox never reports an extension page's load over BiDi (goto would
 * hang), so navigation is started and the page's own ready marker is awaited instead.
 */
export async function openFirefoxExtensionPage(browser: Browser, url: string, readyExpression: string): Promise<Page> {
  // An evaluation that lands while the page is still replacing about:blank fails with a BiDi protocol
  // error (seen in CI: "right-hand side of 'in' should be an object, got null"), and the navigation
  // it raced may be lost with it (seen in CI: the page never became ready, and once stayed so through
  // every retry on the same tab): each attempt takes a fresh tab, bounded.
  const deadline = Date.now() + 40_000;
  for (let attempt = 1; ; attempt += 1) {
    const page = await browser.newPage();
    await page.setViewport({ width: 360, height: 640 });
    void page.goto(url).catch(() => undefined);
    try {
      await page.waitForFunction(readyExpression, { timeout: Math.max(1, Math.min(10_000, deadline - Date.now())) });
      return page;
    } catch (error) {
      await page.close().catch(() => undefined);
      const protocolHiccup =
        error instanceof Error &&
        /Protocol error|ProtocolError|Waiting failed|TimeoutError|Timed out/.test(`${error.name} ${error.message}`);
      if (!protocolHiccup || attempt >= 5 || Date.now() >= deadline) throw error;
    }
  }
}

type ExtensionApi = import('webextension-polyfill').Browser;

/**
 * A Firefox peer for e2e stories: the extension plus one extension page kept open to drive it
 * (settings, permissions, the background's state over the popup's Port). `localDomains` resolve to
 * 127.0.0.1 in this browser only (Firefox's `network.dns.localDomains`), as host rules do in Chromium;
 * every other name fails to resolve here, or resolves to `resolveOthersTo` when given. Permission prompts answer "allow" by pref, so a test's
 * click on an Allow button is what grants, as a person's would.
 */
export interface FirefoxPeer {
  browser: Browser;
  baseUrl: string;
  control: Page;
  setSettings(settings: Partial<Settings>): Promise<void>;
  state(): Promise<PopupState>;
  /** What a person does in about:addons → Permissions: withdraw access to all sites. */
  withdrawAllSites(): Promise<void>;
  close(): Promise<void>;
}

export async function launchFirefoxPeer(
  localDomains: string[],
  options: { resolveOthersTo?: string; acceptInsecureCerts?: boolean; inNamespace?: FirefoxInNamespace } = {},
): Promise<FirefoxPeer> {
  const { browser, baseUrl } = await launchFirefox(
    {
      'network.dns.localDomains': localDomains.join(','),
      // Every other name resolves to this address (an exit's origin on 127.0.0.2); loopback IP literals
      // and `localDomains` (127.0.0.1) are left alone, other IP literals are not: ws://10.77.0.2 went
      // to the forced address (measured in firefox-esr 153, bench:wan).
      ...(options.resolveOthersTo ? { 'network.dns.forceResolve': options.resolveOthersTo } : {}),
      'extensions.webextOptionalPermissionPrompts': false,
    },
    options.acceptInsecureCerts,
    options.inNamespace,
  );
  const control = await openFirefoxExtensionPage(
    browser,
    `${baseUrl}/extension/ui/options.html`,
    'document.readyState === "complete"',
  );
  return {
    browser,
    baseUrl,
    control,
    setSettings: async (change) => {
      await control.evaluate(async (partial) => {
        const ext = (globalThis as unknown as { browser: ExtensionApi }).browser;
        const stored = (await ext.storage.local.get('settings')).settings ?? {};
        await ext.storage.local.set({ settings: { ...stored, ...partial } });
      }, change);
    },
    state: async () => {
      const raw = await control.evaluate(
        (name) =>
          new Promise<unknown>((resolve, reject) => {
            const ext = (globalThis as unknown as { browser: ExtensionApi }).browser;
            const port = ext.runtime.connect({ name });
            const timer = setTimeout(() => reject(new Error('no state from the background within 5 s')), 5000);
            port.onMessage.addListener((message: unknown) => {
              clearTimeout(timer);
              port.disconnect();
              resolve((message as { state?: unknown }).state);
            });
          }),
        POPUP_PORT_NAME,
      );
      return popupStateSchema.parse(raw);
    },
    withdrawAllSites: async () => {
      const removed = await control.evaluate(() =>
        (globalThis as unknown as { browser: ExtensionApi }).browser.permissions.remove({ origins: ['<all_urls>'] }),
      );
      if (!removed) throw new Error('Firefox did not withdraw access to all sites');
    },
    close: () => browser.close(),
  };
}
